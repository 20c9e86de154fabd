/**
 * `npm run build`: bundle each Lambda entry point with esbuild into dist/<name>/index.mjs (ESM, Node 20
 * syntax, source maps). The AWS SDK v3 clients are left to the Lambda runtime, which ships them. The migrate bundle
 * gets a copy of migrations/ beside it.
 */
import { cpSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

import { FUNCTIONS, LAMBDA_BANNER, RUNTIME_PROVIDED_MODULES } from './bundling.js';

export { FUNCTIONS };

const root = fileURLToPath(new URL('..', import.meta.url));
export const DIST = `${root}dist`;

/** Bundle `names` into `<outDir>/<name>/index.mjs` (default dist/). */
export async function buildAll(
  names: readonly string[] = FUNCTIONS,
  outDir: string = DIST,
): Promise<Array<{ name: string; bytes: number }>> {
  const unknown = names.filter((n) => !(FUNCTIONS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`unknown function(s) ${unknown.join(', ')}; known: ${FUNCTIONS.join(', ')}`);
  const out: Array<{ name: string; bytes: number }> = [];
  for (const name of names) {
    rmSync(`${outDir}/${name}`, { recursive: true, force: true });
    const outfile = `${outDir}/${name}/index.mjs`;
    await build({
      entryPoints: [`${root}functions/${name}/handler.ts`],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: true,
      minify: true,
      legalComments: 'none',
      external: RUNTIME_PROVIDED_MODULES,
      banner: { js: LAMBDA_BANNER },
      logLevel: 'warning',
    });
    if (name === 'migrate') {
      mkdirSync(`${outDir}/${name}/migrations`, { recursive: true });
      cpSync(`${root}migrations`, `${outDir}/${name}/migrations`, { recursive: true });
    }
    out.push({ name, bytes: statSync(outfile).size });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const names = process.argv.slice(2);
  const sizes = await buildAll(names.length > 0 ? names : FUNCTIONS);
  for (const s of sizes) console.log(`dist/${s.name}/index.mjs  ${(s.bytes / 1024).toFixed(1)} KiB`);
}
