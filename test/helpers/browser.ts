/** Debian's Chromium, driven by playwright-core (nothing downloads a browser): for the console's browser tests. */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Skip the suite when Chromium is missing on a developer's machine; CI always has it (.ci/run installs it). */
export const skipWithoutChromium = existsSync(CHROMIUM) || process.env.CI ? false : 'needs Debian’s chromium (apt-get install chromium)';

/** Where screenshots go: docs/ with SLUICE_SCREENSHOTS=docs (how the README's pictures are made), else a temporary folder. */
export function screenshotDir(): string {
  return process.env.SLUICE_SCREENSHOTS === 'docs'
    ? join(import.meta.dirname, '..', '..', 'docs')
    : mkdtempSync(join(tmpdir(), 'sluice-shots-'));
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
