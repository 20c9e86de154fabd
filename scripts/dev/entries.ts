/**
 * The functions `sluice dev` runs: the app's own entry files (from its sluice.config.ts) and sluice's
 * maintenance, as the construct deploys them. Each entry file is imported once; its handler is then
 * rebuilt per function with that function's environment (a worker per queue from the one worker file).
 */
import { join } from 'node:path';
import { createMaintenanceHandler } from '../../functions/maintenance/handler.js';
import type { MetricsSink } from '../../functions/shared/metricsSink.js';
import { type FunctionKind, type HandlerOrigin, originOf } from '../../functions/shared/rebuild.js';
import { ConfigFileError, importAppModules, type LoadedConfig } from '../config/load.js';

type Origin = HandlerOrigin<{ metrics?: MetricsSink }>;

export interface DevEntries {
  api: Origin;
  worker: Origin;
  periodic?: Origin;
  maintenance: Origin;
}

const FACTORY: Record<string, string> = { api: 'createApiHandler', worker: 'createWorkerHandler', periodic: 'createPeriodicHandler' };

export async function loadEntries(app: LoadedConfig): Promise<DevEntries> {
  const { functions } = app.config;
  const wanted = (['api', 'worker', 'periodic'] as const).filter((k) => functions[k] !== undefined);
  const files = wanted.map((k) => join(app.dir, functions[k] as string));
  const modules = await importAppModules(files);
  const origins = Object.fromEntries(
    wanted.map((kind, i) => [kind, originFrom(kind, functions[kind] as string, modules[i] as { handler?: unknown })]),
  ) as Record<(typeof wanted)[number], Origin>;
  const maintenance = originOf(createMaintenanceHandler()) as Origin;
  return { api: origins.api, worker: origins.worker, ...(origins.periodic ? { periodic: origins.periodic } : {}), maintenance };
}

function originFrom(kind: FunctionKind, file: string, mod: { handler?: unknown }): Origin {
  const origin = originOf<{ metrics?: MetricsSink }>(mod.handler);
  if (!origin || origin.kind !== kind) {
    throw new ConfigFileError(
      `functions.${kind} (${file}) must export \`handler\` made by ${FACTORY[kind]} from sluice/lambda${origin ? ` (it exports a ${origin.kind} handler)` : ''}`,
    );
  }
  return origin;
}
