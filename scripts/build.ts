/**
 * `npm run build` (and `npm pack`, through prepack): the package's JavaScript and type declarations in
 * dist/ — the library (src/), the Lambda factories (functions/), the CDK constructs (infra/) and the CLI
 * (scripts/) — compiled by tsc from tsconfig.build.json, with sluice's migrations copied to dist/migrations.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(`${root}dist`, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
cpSync(`${root}migrations`, `${root}dist/migrations`, { recursive: true });
console.log('dist/: built');
