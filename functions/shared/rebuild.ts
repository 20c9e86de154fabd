/**
 * A handler made by a `sluice/lambda` factory carries how to make it again with another environment. Lambda
 * never uses this: it runs one function per container, configured by `process.env`. `sluice dev` does: it
 * imports the app's entry files once and runs several functions from them in one process (a worker per
 * queue from the one worker entry, each with its own `QUEUE`), as the construct deploys them.
 */
export const SLUICE_HANDLER = Symbol.for('sluice.handler');

export type FunctionKind = 'api' | 'worker' | 'periodic' | 'maintenance' | 'migrate';

/** Any Lambda handler a factory makes (its event and result types vary by function). */
// biome-ignore lint/suspicious/noExplicitAny: the dev host invokes handlers of every kind with the events it routes.
export type AnyLambdaHandler = (event: any, context: any) => Promise<any>;

export interface HandlerOrigin<Deps> {
  kind: FunctionKind;
  /** The same handler, built from `env` (and, where the factory takes them, other dependencies). */
  rebuild(env: NodeJS.ProcessEnv, deps?: Deps): AnyLambdaHandler;
}

/** Mark `handler` as made by the factory `kind`, rebuildable with `rebuild`. */
export function withOrigin<H extends object, Deps>(handler: H, origin: HandlerOrigin<Deps>): H {
  Object.defineProperty(handler, SLUICE_HANDLER, { value: origin, enumerable: false });
  return handler;
}

/** The origin of a handler a factory made, or undefined for anything else. */
export function originOf<Deps = unknown>(handler: unknown): HandlerOrigin<Deps> | undefined {
  if (typeof handler !== 'function') return undefined;
  return (handler as unknown as Record<symbol, HandlerOrigin<Deps> | undefined>)[SLUICE_HANDLER];
}
