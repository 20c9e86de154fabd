/** sluice's own maintenance entry point: the construct deploys this file; apps write none. */
import { createMaintenanceHandler } from './handler.js';

export const handler = createMaintenanceHandler();
