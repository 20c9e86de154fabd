#!/usr/bin/env node
// `npx sluice …`: the installed package runs its built JavaScript (dist/). In sluice's own repository
// (scripts/cli.ts beside this file) it runs the TypeScript sources instead, through tsx, with bare
// `sluice/...` imports resolved to those sources (the `sluice-source` export condition).
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const fromSource = existsSync(new URL('../scripts/cli.ts', import.meta.url));
if (fromSource) {
  register('./source-conditions.mjs', import.meta.url);
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
}
const { main } = await import(fromSource ? '../scripts/cli.ts' : '../dist/scripts/cli.js');
process.exitCode = await main(process.argv.slice(2));
