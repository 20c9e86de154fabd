/**
 * How every Lambda bundle is made, shared by `npm run build` (what the bundle smoke test loads) and the
 * CDK construct (what is deployed), so the two never drift apart.
 */

/** The entry points under functions/<name>/handler.ts. */
export const FUNCTIONS = ['api', 'worker', 'maintenance', 'migrate', 'periodic'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

/** ESM bundles still meet CommonJS dependencies that call require(): give them one. */
export const LAMBDA_BANNER =
  "import { createRequire as __sluiceCreateRequire } from 'node:module'; const require = __sluiceCreateRequire(import.meta.url);";

/** Left out of the bundles: the Lambda runtime ships the SDK's clients (the IAM token signer is bundled; see functions/shared/iamAuthToken.ts). */
export const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/client-*'];
