/** The example app's periodic-jobs entry file: enqueues the ticks of `periodicJobs` in sluice.config.ts. */
import { createPeriodicHandler } from 'sluice/lambda';
import { definitions } from '../definitions.js';

export const handler = createPeriodicHandler({ jobs: definitions });
