/** Run the CLI in-process, as `sluice …` would, and collect what it writes. */
import { main } from '../../scripts/cli.js';

export async function runCli(
  argv: readonly string[],
  confirm?: (q: string) => Promise<boolean>,
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main([...argv], {
    write: (s) => {
      out += s;
    },
    fail: (s) => {
      err += s;
    },
    ...(confirm ? { confirm } : {}),
  });
  return { code, out, err };
}
