/**
 * The README's code blocks, each with the marker comment that says how a test exercises it:
 * `<!-- readme: KIND [ARG] [(note)] -->` on the line before the fence. test/readme.test.ts checks that
 * every block has one, and runs or checks the kinds it owns; the others name the test that runs them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const README = join(import.meta.dirname, '..', '..', 'README.md');

/** Each kind, and the test file that exercises its blocks. */
export const KINDS = {
  /** What an app installs: the package test installs the same packages. */
  install: 'test/package/outside.test.ts',
  /** A file of the quick-start app (ARG: its path): the package test builds that app from them. */
  file: 'test/package/outside.test.ts',
  /** The quick start's `npx sluice dev`, and the shell lines run against it. */
  'quickstart-run': 'test/package/outside.test.ts',
  'quickstart-shell': 'test/package/outside.test.ts',
  /** This repository's two commands: CI runs them (.ci/run); the dev test runs `npm run dev`. */
  'repo-commands': 'test/readme.test.ts',
  /** Shell lines against `npm run dev` (the example app): curl, the CLI, the signed API calls. */
  'repo-dev-shell': 'test/dev.e2e.test.ts',
  cli: 'test/dev.e2e.test.ts',
  'api-sh': 'test/dev.e2e.test.ts',
  /** A TypeScript program that runs as written against DATABASE_URL. */
  script: 'test/readme.test.ts',
  /** Needs an AWS account: not run; its note says so, and what is run instead. */
  'needs-aws': 'test/readme.test.ts',
} as const;
export type Kind = keyof typeof KINDS;

export interface ReadmeBlock {
  kind: Kind;
  arg: string | undefined;
  note: string | undefined;
  lang: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
}

const MARKER = /^<!-- readme: ([a-z-]+)(?: ([^\s(]+))?(?: \((.+)\))? -->$/;

/** Every fenced block of `text`; throws naming the line of a block without a valid marker. */
export function readmeBlocks(text: string = readFileSync(README, 'utf8')): ReadmeBlock[] {
  const lines = text.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    if (end < 0) throw new Error(`README.md:${i + 1}: a code block that never closes`);
    let m = i - 1;
    while (m >= 0 && (lines[m] as string).trim() === '') m--;
    const marker = MARKER.exec((lines[m] ?? '').trim());
    if (!marker || !((marker[1] as string) in KINDS)) {
      throw new Error(
        `README.md:${i + 1}: the code block has no \`<!-- readme: KIND -->\` marker (kinds: ${Object.keys(KINDS).join(', ')})`,
      );
    }
    blocks.push({
      kind: marker[1] as Kind,
      arg: marker[2],
      note: marker[3],
      lang: open[1] ?? '',
      code: lines.slice(i + 1, end).join('\n'),
      line: i + 1,
    });
    i = end;
  }
  return blocks;
}

/** The blocks of one kind. */
export const blocksOf = (kind: Kind, blocks: ReadmeBlock[] = readmeBlocks()) => blocks.filter((b) => b.kind === kind);

/**
 * Shell lines as separate commands: a README line may show two commands side by side (split where two or
 * more spaces precede `npx`), a trailing `\` continues a line, and `# …` comments are dropped.
 */
export function shellCommands(code: string): string[] {
  const joined = code.replace(/\\\n\s*/g, ' ');
  return joined
    .split('\n')
    .flatMap((line) => line.split(/\s{2,}(?=npx )/))
    .map((c) => c.replace(/\s+#\s.*$/, '').trim())
    .filter((c) => c !== '' && !c.startsWith('#'));
}
