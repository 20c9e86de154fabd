/**
 * `npm run bundle`: bundle the example app's Lambda functions with esbuild, exactly as the construct does
 * (`BUNDLE_OPTIONS`, one set for both), into `<outDir>/<name>/index.mjs`: the app's api, worker and
 * periodic entry files and sluice's own maintenance and migrate. The migrate bundle gets sluice's
 * migrations beside it. The bundle smoke test and the bench load these.
 */
import { cpSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import config from '../examples/sluice.config.js';
import { BUNDLE_OPTIONS, MIGRATIONS_DIR, sluiceEntry } from '../infra/bundling.js';

export const FUNCTIONS = ['api', 'worker', 'maintenance', 'migrate', 'periodic'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));
export const BUNDLES_DIR = fileURLToPath(new URL('../.sluice/bundles', import.meta.url));

/** The entry file each function is bundled from. */
export function entryOf(name: FunctionName): string {
  if (name === 'maintenance' || name === 'migrate') return sluiceEntry(name);
  return join(EXAMPLES, config.functions[name] as string);
}

/** Bundle `names` into `<outDir>/<name>/index.mjs` (default .sluice/bundles). */
export async function buildAll(
  names: readonly string[] = FUNCTIONS,
  outDir: string = BUNDLES_DIR,
): Promise<Array<{ name: string; bytes: number }>> {
  const unknown = names.filter((n) => !(FUNCTIONS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`unknown function(s) ${unknown.join(', ')}; known: ${FUNCTIONS.join(', ')}`);
  const out: Array<{ name: string; bytes: number }> = [];
  for (const name of names as FunctionName[]) {
    rmSync(`${outDir}/${name}`, { recursive: true, force: true });
    const outfile = `${outDir}/${name}/index.mjs`;
    const { banner, conditions, external, ...options } = BUNDLE_OPTIONS;
    await build({
      ...options,
      entryPoints: [entryOf(name)],
      outfile,
      bundle: true,
      external: [...external],
      conditions: [...conditions],
      banner: { js: banner },
      logLevel: 'warning',
    });
    if (name === 'migrate') {
      mkdirSync(`${outDir}/${name}/migrations`, { recursive: true });
      cpSync(MIGRATIONS_DIR, `${outDir}/${name}/migrations`, { recursive: true });
    }
    out.push({ name, bytes: statSync(outfile).size });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const names = process.argv.slice(2);
  const sizes = await buildAll(names.length > 0 ? names : FUNCTIONS);
  for (const s of sizes) console.log(`${s.name}/index.mjs  ${(s.bytes / 1024).toFixed(1)} KiB`);
}
