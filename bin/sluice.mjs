#!/usr/bin/env node
// `npx sluice …`: runs scripts/cli.ts through tsx (the repository's TypeScript, no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../scripts/cli.ts');
process.exitCode = await main(process.argv.slice(2));
