/**
 * Finds and loads an app's `sluice.config.ts`, for the CLI and `sluice dev`. TypeScript needs no loader at
 * run time: esbuild bundles the file and what it imports from the app (packages stay imports, resolved
 * from the app's node_modules), into a temporary module that is imported, then deleted.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineConfig, type SluiceAppConfig } from '../../infra/config.js';

const NAMES = ['sluice.config.ts', 'sluice.config.mts', 'sluice.config.js', 'sluice.config.mjs'];

/** No config file could be found or loaded; the message says what to do. */
export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
}

export interface LoadedConfig {
  config: SluiceAppConfig;
  /** The config file. */
  file: string;
  /** Its folder: the entry files are relative to it. */
  dir: string;
  /** The app's root (the nearest package.json at or above the config file): `.sluice/` lives there. */
  root: string;
}

/**
 * The config file: `explicit` (`--config` or `SLUICE_CONFIG`), else the first `sluice.config.*` in `cwd`
 * or a folder above it, or the file a package.json there names as `"sluice": { "config": … }`.
 */
export function findConfigFile(cwd: string = process.cwd(), explicit: string | undefined = process.env.SLUICE_CONFIG): string {
  if (explicit) {
    const file = resolve(cwd, explicit);
    if (!existsSync(file)) throw new ConfigFileError(`config file ${explicit} not found`);
    return file;
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const found = NAMES.map((n) => join(dir, n)).find((f) => existsSync(f));
    if (found) return found;
    const named = packageConfigField(dir);
    if (named) return named;
    if (dirname(dir) === dir) break;
  }
  throw new ConfigFileError(
    `no sluice.config.ts in ${cwd} or above it: create one at your app's root (docs/your-own-job-types.md), or pass --config FILE`,
  );
}

function packageConfigField(dir: string): string | undefined {
  const pkg = join(dir, 'package.json');
  if (!existsSync(pkg)) return undefined;
  try {
    const field = (JSON.parse(readFileSync(pkg, 'utf8')) as { sluice?: { config?: unknown } }).sluice?.config;
    return typeof field === 'string' ? resolve(dir, field) : undefined;
  } catch {
    return undefined;
  }
}

/** The nearest folder at or above `dir` with a package.json (else `dir`). */
export function appRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) return dir;
  }
}

/** Load and check the config (`defineConfig` runs on its default export, whether or not the file called it). */
export async function loadConfigFile(file: string): Promise<LoadedConfig> {
  const mod = (await importAppModules([file]))[0] as { default?: unknown };
  if (!mod || typeof mod.default !== 'object' || mod.default === null) {
    throw new ConfigFileError(`${file} has no default export: end it with \`export default defineConfig({ … })\``);
  }
  let config: SluiceAppConfig;
  try {
    config = defineConfig(mod.default as Parameters<typeof defineConfig>[0]);
  } catch (err) {
    throw new ConfigFileError(`${file}: ${(err as Error).message}`);
  }
  const dir = dirname(file);
  return { config, file, dir, root: appRoot(dir) };
}

/** `findConfigFile` then `loadConfigFile`. */
export async function loadAppConfig(options: { cwd?: string; file?: string } = {}): Promise<LoadedConfig> {
  return loadConfigFile(findConfigFile(options.cwd, options.file ?? process.env.SLUICE_CONFIG));
}

/**
 * Import an app's TypeScript or JavaScript modules in this process. One esbuild run bundles them together
 * (code splitting: a module they share, such as the job definitions, is loaded once), leaving packages as
 * imports; the output is written in the app's `.sluice/`, so those resolve as they would for the app.
 */
export async function importAppModules(files: readonly string[]): Promise<unknown[]> {
  if (files.every((f) => /\.m?js$/.test(f))) return Promise.all(files.map((f) => import(pathToFileURL(f).href)));
  const { build } = await import('esbuild');
  const root = appRoot(dirname(files[0] as string));
  // Under the app's .sluice/ (never inside node_modules, which would hide the app's own package scope).
  const outdir = join(root, '.sluice', `load-${randomUUID()}`);
  let result: Awaited<ReturnType<typeof build>>;
  try {
    result = await build({
      entryPoints: files.map((f, i) => ({ in: f, out: `entry${i}` })),
      outdir,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      sourcemap: 'inline',
      outExtension: { '.js': '.mjs' },
      write: false,
      logLevel: 'silent',
    });
  } catch (err) {
    const errors = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> }).errors ?? [];
    const lines = errors.map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text));
    throw new ConfigFileError(`cannot load ${files.join(', ')}: ${lines.join('; ') || (err as Error).message}`);
  }
  // Kept until this process exits: a chunk the app imports dynamically may load later.
  process.once('exit', () => rmSync(outdir, { recursive: true, force: true }));
  for (const out of result.outputFiles ?? []) {
    mkdirSync(dirname(out.path), { recursive: true });
    writeFileSync(out.path, out.contents);
  }
  return Promise.all(files.map((_f, i) => import(pathToFileURL(join(outdir, `entry${i}.mjs`)).href)));
}
