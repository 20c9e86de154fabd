/**
 * SQL only with bound parameters: a static scan of every module that builds SQL (src/ and functions/).
 * Each `${…}` inside a template literal that reads as SQL must be an identifier sluice quoted itself (the
 * `SchemaName` type, which only `quoteSchema` makes), a `SqlFragment` (which only the `sql` tag of src/db.ts
 * makes, from constant text, quoted identifiers, `$n` placeholders and other fragments: its signature refuses
 * a value), a string-literal type (a constant), or one of the few quoted fragments listed below with the
 * reason each is safe. Concatenating SQL with `+` is refused outright.
 * Values of any kind go through `$n` parameters; test/faults/security.test.ts checks that at run time.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const ROOTS = ['src', 'functions'];
const SQL = /\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|GRANT|REVOKE|DROP|TRUNCATE|VALUES|WHERE|FROM|SET)\b/;

/** Interpolations that are neither a SchemaName nor a literal type, each with why it is safe. */
const ALLOWED: Record<string, string> = {
  'src/sql/deadLetters.ts: jobSelect(s)': 'the job columns for schema s: a SchemaName and constant text',
  'src/sql/getJobs.ts: jobSelect(s)': 'the job columns for schema s: a SchemaName and constant text',
  'src/sql/getJobs.ts: jobSelect(s, { result: true })': 'the job columns with the result, for schema s: a SchemaName and constant text',
  'src/sql/jobColumns.ts: result': "the result column's subquery, or nothing: a SchemaName and constant text",
  'src/sql/listJobs.ts: jobSelect(s)': 'the job columns for schema s: a SchemaName and constant text',
  'src/sql/cancel.ts: cancelTargets(s)': 'the cancel CTEs for schema s: a SchemaName and constant text',
  'src/sql/cancelMatching.ts: cancelTargets(s)': 'the cancel CTEs for schema s: a SchemaName and constant text',
  'src/access.ts: e.role': 'a role name checked against SQL_IDENTIFIER and double-quoted by quoteRole',
  'src/access.ts: m.role': 'a role name checked against SQL_IDENTIFIER and double-quoted by quoteRole',
  "src/access.ts: privileges.join(', ')": 'privilege keywords from the constant ACCESS_PROFILES',
};

interface Finding {
  where: string;
  expression: string;
  why: string;
}

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) out.push(path);
    }
  };
  for (const root of ROOTS) walk(root);
  return out;
}

/** A string literal (a constant), a union of them, or a branded quoted identifier such as `SchemaName`. */
function isQuotedOrConstant(type: ts.Type): boolean {
  if (type.isStringLiteral()) return true;
  if (type.isUnion()) return type.types.every(isQuotedOrConstant);
  return type.isIntersection() && type.getProperty('__quoted') !== undefined;
}

/** Every interpolation into SQL text that is not shown to be safe. */
function scan(program: ts.Program, files: readonly string[]): { findings: Finding[]; templates: number; interpolations: number } {
  const checker = program.getTypeChecker();
  const findings: Finding[] = [];
  let templates = 0;
  let interpolations = 0;
  for (const file of files) {
    const sf = program.getSourceFile(file);
    assert.ok(sf, `${file} is part of the program`);
    const visit = (node: ts.Node) => {
      const line = () => `${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}`;
      if (ts.isTemplateExpression(node)) {
        const text = node.head.text + node.templateSpans.map((span) => span.literal.text).join('');
        if (SQL.test(text)) {
          templates++;
          for (const span of node.templateSpans) {
            interpolations++;
            const expression = span.expression.getText(sf);
            if (isQuotedOrConstant(checker.getTypeAtLocation(span.expression))) continue;
            if (ALLOWED[`${file}: ${expression}`]) continue;
            findings.push({
              where: line(),
              expression,
              why: `interpolated into SQL as ${checker.typeToString(checker.getTypeAtLocation(span.expression))}`,
            });
          }
        }
      }
      if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
        const sides = [node.left, node.right];
        if (sides.some((side) => ts.isStringLiteralLike(side) && SQL.test(side.text))) {
          findings.push({ where: line(), expression: node.getText(sf), why: 'SQL concatenated with +' });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { findings, templates, interpolations };
}

function programOf(files: readonly string[]): ts.Program {
  const config = ts.getParsedCommandLineOfConfigFile('tsconfig.json', {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  assert.ok(config, 'tsconfig.json parses');
  return ts.createProgram({ rootNames: [...files], options: { ...config.options, noEmit: true } });
}

describe('SQL is built with bound parameters only', () => {
  it('every interpolation into SQL text in src/ and functions/ is a quoted identifier or a constant', (t) => {
    const files = sourceFiles();
    const { findings, templates, interpolations } = scan(programOf(files), files);
    t.diagnostic(`figure: ${templates} SQL templates with ${interpolations} interpolations in ${files.length} files`);
    assert.ok(templates >= 20, `the scan found the SQL modules (${templates} templates)`);
    assert.deepEqual(findings, []);
  });

  it('the scan refuses a value interpolated or concatenated into SQL', () => {
    const file = 'test/fixtures/unsafe-sql.ts';
    const text = [
      "import type { SchemaName } from '../../src/db.js';",
      'export const bad = (s: SchemaName, queue: string, n: number) => [',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: source text of the unsafe fixture, not a template
      '  `SELECT * FROM ${s}.jobs WHERE queue = ${queue}`,',
      "  'DELETE FROM jobs WHERE id = ' + n,",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: source text of the unsafe fixture, not a template
      '  `SELECT * FROM ${s}.jobs WHERE queue = $1`,',
      '];',
    ].join('\n');
    const host = ts.createCompilerHost({ strict: true });
    const read = host.readFile.bind(host);
    host.readFile = (name) => (name.endsWith(file) ? text : read(name));
    host.fileExists = (
      (exists) => (name: string) =>
        name.endsWith(file) || exists(name)
    )(host.fileExists.bind(host));
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, lang, ...rest) =>
      name.endsWith(file) ? ts.createSourceFile(name, text, lang, true) : getSourceFile(name, lang, ...rest);
    const program = ts.createProgram({ rootNames: [file], options: { strict: true, noEmit: true }, host });
    const { findings } = scan(program, [file]);
    assert.deepEqual(
      findings.map((f) => [f.expression, f.why.split(' as ')[0]]),
      [
        ['queue', 'interpolated into SQL'],
        ["'DELETE FROM jobs WHERE id = ' + n", 'SQL concatenated with +'],
      ],
    );
  });
});
