/**
 * The example app's worker entry file: one file for every queue's worker (the construct sets `QUEUE`).
 * The handlers get the worker's enqueuer, so follow-up jobs wake their queue when the drain ends.
 */
import { createWorkerHandler } from 'sluice/lambda';
import { createHandlers } from '../handlers.js';

export const handler = createWorkerHandler({ handlers: ({ enqueue }) => createHandlers({ enqueue }) });
