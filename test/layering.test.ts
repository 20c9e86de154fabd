/**
 * The layers, enforced: `src/` (the core) imports nothing of the Lambda functions, the CDK, the scripts or
 * the example app; `functions/` nothing of the CDK, the scripts or the example app; `infra/` nothing of the
 * scripts; nothing outside `test/` imports `test/`; what the package ships never imports the example app;
 * the example app imports sluice only by its public exports; and nothing a producer or a handler imports
 * (`sluice`, `sluice/lambda`) pulls in the CDK. A planted forbidden import proves the check fails.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { BUNDLE_OPTIONS } from '../infra/bundling.js';
import { nodejsBundling } from '../infra/constructs/sluiceFunction.js';

const ROOT = join(import.meta.dirname, '..');
const AREAS = ['src', 'functions', 'infra', 'scripts', 'examples', 'test', 'bin'] as const;
type Area = (typeof AREAS)[number] | 'package';

/** The public exports, and the area each one's sources live in. */
const EXPORTS: Record<string, string> = {
  sluice: 'src/index.ts',
  'sluice/lambda': 'functions/index.ts',
  'sluice/cdk': 'infra/index.ts',
  'sluice/config': 'infra/config.ts',
};

/** Areas each area must not import. */
const FORBIDDEN: Partial<Record<Area, Area[]>> = {
  src: ['functions', 'infra', 'scripts', 'examples', 'test'],
  functions: ['infra', 'scripts', 'examples', 'test'],
  infra: ['scripts', 'examples', 'test'],
  scripts: ['test'],
  examples: ['test', 'src', 'functions', 'infra', 'scripts'], // the app reaches sluice by its exports only
  bin: ['test', 'examples'],
};
/** Packages a layer must not import (the core knows nothing of AWS; Lambda code nothing of the CDK). */
const FORBIDDEN_PACKAGES: Partial<Record<Area, RegExp>> = {
  src: /^(@aws-sdk\/|@aws-lambda-powertools\/|@middy\/|aws-cdk-lib|constructs$|aws-lambda$|@smithy\/)/,
  functions: /^(aws-cdk-lib|constructs$|cdk-nag$)/,
};

interface Import {
  from: string;
  specifier: string;
  /** The repository file it resolves to, for relative imports and sluice's own exports. */
  target?: string;
}

/** Every import of `text` (static, re-exports, dynamic with a literal), as TypeScript's pre-processor sees them. */
export function importsOf(file: string, text: string): Import[] {
  return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName: specifier }) => {
    if (specifier.startsWith('.')) return { from: file, specifier, target: normalize(join(dirname(file), specifier)) };
    const own = EXPORTS[specifier];
    return own ? { from: file, specifier, target: own } : { from: file, specifier };
  });
}

const areaOf = (file: string): Area => (AREAS as readonly string[]).find((a) => file.startsWith(`${a}/`)) as Area;

/** The files the package ships as JavaScript (tsconfig.build.json's include): none may import the example app. */
function shipped(file: string): boolean {
  const include = (JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
  return include.some((p) => file === p || file.startsWith(`${p}/`));
}

/** What breaks the layering in `files` (path → source text, paths relative to the repository). */
export function violations(files: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [file, text] of files) {
    const area = areaOf(file);
    for (const imp of importsOf(file, text)) {
      const where = `${file} imports ${imp.specifier}`;
      if (imp.target) {
        const to = areaOf(imp.target);
        if (to === undefined && imp.target.startsWith('..')) out.push(`${where}: outside the repository`);
        const bareOwn = !imp.specifier.startsWith('.');
        if (FORBIDDEN[area]?.includes(to) && !(area === 'examples' && bareOwn)) out.push(`${where}: ${area}/ must not import ${to}/`);
        if (area !== 'test' && to === 'test') out.push(`${where}: only tests import test/`);
        if (to === 'examples' && area !== 'examples' && shipped(file)) out.push(`${where}: the package must not import the example app`);
        if (area === 'examples' && !bareOwn && to !== 'examples')
          out.push(`${where}: the example app imports sluice by its public exports only`);
      } else if (FORBIDDEN_PACKAGES[area]?.test(imp.specifier)) {
        out.push(`${where}: ${area}/ must not import ${imp.specifier}`);
      }
    }
  }
  return out;
}

function sourceFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|mts|mjs|js)$/.test(entry.name)) files.set(path, readFileSync(join(ROOT, path), 'utf8'));
    }
  };
  for (const area of AREAS) if (existsSync(join(ROOT, area))) walk(area);
  return files;
}

/** The repository files `entry` loads, transitively, and every package specifier among their imports. */
function closure(entry: string, files: ReadonlyMap<string, string>): { files: Set<string>; packages: Set<string> } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    const source = files.has(file) ? file : file.replace(/\.js$/, '.ts');
    if (seen.has(source) || !files.has(source)) return;
    seen.add(source);
    for (const imp of importsOf(source, files.get(source) as string)) {
      if (imp.target) visit(imp.target);
      else packages.add(imp.specifier);
    }
  };
  visit(entry);
  return { files: seen, packages };
}

describe('layering', () => {
  const files = sourceFiles();

  it('holds across the repository', () => {
    assert.ok(files.size > 100, `found ${files.size} files`);
    assert.deepEqual(violations(files), []);
  });

  it('fails on a planted forbidden import, one of each kind', () => {
    const planted = new Map([
      ['src/sql/planted.ts', "import { SluiceQueue } from '../../infra/constructs/queue.js';\nimport 'aws-cdk-lib';"],
      ['functions/worker/planted.ts', "export { buildApp } from '../../examples/cdk.js';"],
      ['infra/planted.ts', "const m = await import('../scripts/cli.js');"],
      ['scripts/cli-planted.ts', "import { testSluice } from '../test/helpers/db.js';"],
      ['examples/planted.ts', "import { Sluice } from '../src/sluice.js';"],
    ]);
    assert.deepEqual(violations(planted), [
      'src/sql/planted.ts imports ../../infra/constructs/queue.js: src/ must not import infra/',
      'src/sql/planted.ts imports aws-cdk-lib: src/ must not import aws-cdk-lib',
      'functions/worker/planted.ts imports ../../examples/cdk.js: functions/ must not import examples/',
      'functions/worker/planted.ts imports ../../examples/cdk.js: the package must not import the example app',
      'infra/planted.ts imports ../scripts/cli.js: infra/ must not import scripts/',
      'scripts/cli-planted.ts imports ../test/helpers/db.js: scripts/ must not import test/',
      'scripts/cli-planted.ts imports ../test/helpers/db.js: only tests import test/',
      'examples/planted.ts imports ../src/sluice.js: examples/ must not import src/',
      'examples/planted.ts imports ../src/sluice.js: the example app imports sluice by its public exports only',
    ]);
  });

  it('keeps the CDK out of everything a producer or a handler imports', () => {
    for (const entry of ['src/index.ts', 'functions/index.ts']) {
      const { files: loaded, packages } = closure(entry, files);
      assert.ok(loaded.size > 5, `${entry} loads ${loaded.size} files`);
      const cdk = [...packages].filter((p) => /^(aws-cdk-lib|constructs|cdk-nag|esbuild)(\/|$)/.test(p));
      assert.deepEqual(cdk, [], `${entry} pulls in ${cdk.join(', ')}`);
      assert.ok(![...loaded].some((f) => f.startsWith('infra/') || f.startsWith('scripts/')), `${entry} loads no infra/ or scripts/ file`);
    }
  });

  it('deploys with the very esbuild options the tests bundle with', () => {
    const b = nodejsBundling();
    assert.deepEqual(
      {
        format: b.format,
        platform: b.platform,
        target: b.target,
        minify: b.minify,
        sourcemap: b.sourceMap,
        external: b.externalModules,
        banner: b.banner,
        legalComments: b.esbuildArgs?.['--legal-comments'],
        conditions: String(b.esbuildArgs?.['--conditions'] ?? '')
          .split(',')
          .filter(Boolean),
      },
      { ...BUNDLE_OPTIONS, external: [...BUNDLE_OPTIONS.external], conditions: [...BUNDLE_OPTIONS.conditions] },
    );
    const bundleScript = readFileSync(join(ROOT, 'scripts', 'bundle.ts'), 'utf8');
    assert.match(bundleScript, /\.\.\.options,/, 'scripts/bundle.ts spreads BUNDLE_OPTIONS into esbuild');
  });
});
