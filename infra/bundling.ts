/**
 * How every Lambda bundle is made: one set of esbuild options, which the construct deploys with and which
 * `npm run build` (the bundles the tests load) uses, so the two never drift apart.
 */
import { fileURLToPath } from 'node:url';

/** ESM bundles still meet CommonJS dependencies that call require(): give them one. */
export const LAMBDA_BANNER =
  "import { createRequire as __sluiceCreateRequire } from 'node:module'; const require = __sluiceCreateRequire(import.meta.url);";

/** Left out of the bundles: the Lambda runtime ships the SDK's clients (the IAM token signer is bundled; see functions/shared/iamAuthToken.ts). */
export const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/client-*'];

/**
 * Run from sluice's own TypeScript (this repository) rather than its built package: bare `sluice/...`
 * imports then resolve to the sources through package.json's `sluice-source` export condition.
 */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** The esbuild options of every bundle. `node20`: the oldest Node that loads them (tests here); Lambda runs 22 or later. */
export const BUNDLE_OPTIONS = {
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  external: RUNTIME_PROVIDED_MODULES,
  banner: LAMBDA_BANNER,
  conditions: FROM_SOURCE ? ['sluice-source'] : [],
} as const;

/** sluice's own functions: apps write no entry file for these. */
export type OwnFunction = 'maintenance' | 'migrate';

/** The entry file of one of sluice's own functions, from the sources or from the built package. */
export function sluiceEntry(name: OwnFunction): string {
  return fileURLToPath(new URL(`../functions/${name}/entry.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url));
}

/** sluice's migrations folder, copied beside the migrate bundle. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));
