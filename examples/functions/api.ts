/** The example app's API entry file: the enqueue API, accepting the app's job types. */
import { createApiHandler } from 'sluice/lambda';
import { definitions } from '../definitions.js';

export const handler = createApiHandler({ jobs: definitions });
