/** sluice's own migrate entry point: the construct deploys this file as a deploy-time trigger; apps write none. */
import { createMigrateHandler } from './handler.js';

export const handler = createMigrateHandler();
