// A module resolve hook for sluice's own repository: bare `sluice/...` imports resolve to the TypeScript
// sources (package.json's `sluice-source` condition), as `node --conditions=sluice-source` would.
export async function resolve(specifier, context, next) {
  return next(specifier, { ...context, conditions: [...(context.conditions ?? []), 'sluice-source'] });
}
