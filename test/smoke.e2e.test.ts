/**
 * `sluice smoke` (issue 16, item 5), end to end against `npm run dev` (its own embedded database, its API and
 * workers), and with the AWS SDK mocked at its client boundary for the CloudFormation and CloudWatch parts.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { freePort } from '../scripts/dev/net.js';
import { runSmoke, SMOKE_EXIT, type SmokeDeps, type SmokeResult } from '../scripts/smoke.js';
import { sleep } from './helpers/db.js';

const root = join(import.meta.dirname, '..');

describe('sluice smoke', { concurrency: false }, () => {
  const devDir = mkdtempSync(join(tmpdir(), 'sluice-smoke-e2e-'));
  let dev: ChildProcess;
  let api = '';
  let output = '';

  before(async () => {
    const port = await freePort();
    const env = { ...process.env, SLUICE_DEV_DIR: devDir, POWERTOOLS_LOG_LEVEL: 'WARN' } as NodeJS.ProcessEnv;
    delete env.DATABASE_URL;
    delete env.SLUICE_SCHEMA;
    dev = spawn('npm', ['run', 'dev', '--', '--port', String(port), '--fresh'], {
      cwd: root,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    dev.stdout?.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    dev.stderr?.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    for (let i = 0; i < 600 && !output.includes('[sluice dev] ready on'); i++) {
      if (dev.exitCode !== null) break;
      await sleep(100);
    }
    assert.match(output, /\[sluice dev\] ready on/, `dev did not start:\n${output}`);
    api = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    if (dev?.pid) {
      const closed = new Promise((r) => dev.stdout?.once('close', r));
      try {
        process.kill(-dev.pid, 'SIGTERM');
      } catch {}
      await Promise.race([closed, sleep(10_000)]);
    }
    rmSync(devDir, { recursive: true, force: true });
  });

  /** runSmoke in this process, its output captured. */
  const run = async (args: string[], deps: SmokeDeps = {}) => {
    let out = '';
    let err = '';
    const code = await runSmoke(args, { write: (s) => (out += s), fail: (s) => (err += s) }, { pollMs: 100, ...deps });
    return { code, out, err, json: () => JSON.parse(out) as SmokeResult };
  };

  it('against npm run dev: the probe succeeds with its trace, and the dead-letter round trip ends purged', async () => {
    const r = await run(['--api', api, '--queue', 'default', '--timeout', '30s', '--json']);
    const result = r.json();
    assert.equal(r.code, SMOKE_EXIT.passed, JSON.stringify(result, null, 2));
    assert.deepEqual(
      result.checks.map((c) => [c.name, c.status]),
      [
        ['probe job succeeds', 'pass'],
        ['dead-letter round trip', 'pass'],
        ['alarms in OK', 'skip'],
      ],
    );
    assert.match(result.checks[0]?.detail ?? '', /^job \d+ on default succeeded, trace [0-9a-f]{32}$/);
    assert.match(result.checks[1]?.detail ?? '', /dead, listed, redriven, dead again, purged/);
    const text = await run(['--api', api, '--no-dead-letters']);
    assert.equal(text.code, 0);
    assert.match(text.out, /^ok +probe job succeeds \(\d+ ms\): job \d+ on default succeeded/m);
    assert.match(text.out, /^skip +alarms in OK/m);
    assert.match(text.out, /smoke passed\n$/);
  });

  it('from a stack: its outputs name the API and queues, requests are SigV4-signed, and the alarms are read', async () => {
    const cf = mockClient(CloudFormationClient);
    const cw = mockClient(CloudWatchClient);
    try {
      cf.on(DescribeStacksCommand, { StackName: 'SluiceQueue' }).resolves({
        Stacks: [
          {
            StackName: 'SluiceQueue',
            CreationTime: new Date(),
            StackStatus: 'CREATE_COMPLETE',
            Outputs: [
              { OutputKey: 'JobsSluiceApiUrlA1B2C3D4', OutputValue: api },
              { OutputKey: 'JobsSluiceQueues9F8E7D6C', OutputValue: 'default,emails' },
            ],
          },
        ],
      });
      // Two pages of resources: the alarms are read from both.
      cf.on(ListStackResourcesCommand).callsFake((input: { NextToken?: string }) =>
        input.NextToken === 'page-2'
          ? { StackResourceSummaries: [summary('AWS::CloudWatch::Alarm', 'sluice-OldestTransaction')] }
          : {
              StackResourceSummaries: [
                summary('AWS::CloudWatch::Alarm', 'sluice-DeadLetters-default'),
                summary('AWS::Lambda::Function', 'worker'),
              ],
              NextToken: 'page-2',
            },
      );
      cw.on(DescribeAlarmsCommand).resolves({
        MetricAlarms: [
          { AlarmName: 'sluice-DeadLetters-default', StateValue: 'OK' },
          { AlarmName: 'sluice-OldestTransaction', StateValue: 'OK' },
        ],
      });
      const seen: Array<Record<string, string>> = [];
      const deps: SmokeDeps = {
        cloudFormation: async () => new CloudFormationClient({ region: 'eu-west-1' }),
        cloudWatch: async () => new CloudWatchClient({ region: 'eu-west-1' }),
        credentials: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret-for-the-test' }),
        fetch: (url, init) => {
          seen.push(init?.headers as Record<string, string>);
          return fetch(url, init);
        },
      };
      const ok = await run(['--stack', 'SluiceQueue', '--sign', '--region', 'eu-west-1', '--no-dead-letters', '--json'], deps);
      const result = ok.json();
      assert.equal(ok.code, SMOKE_EXIT.passed, JSON.stringify(result, null, 2));
      assert.equal(result.api, api);
      assert.equal(result.queue, 'default', "the stack's first queue");
      assert.deepEqual(
        result.checks.map((c) => [c.name, c.status]),
        [
          ['stack', 'pass'],
          ['probe job succeeds', 'pass'],
          ['alarms in OK', 'pass'],
        ],
      );
      assert.equal(result.checks[2]?.detail, '2 alarms, every one OK');
      assert.deepEqual(cw.commandCalls(DescribeAlarmsCommand)[0]?.args[0].input.AlarmNames, [
        'sluice-DeadLetters-default',
        'sluice-OldestTransaction',
      ]);
      assert.ok(
        seen.length >= 2 &&
          seen.every((h) => /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\//.test(h.authorization ?? '')),
      );

      // One alarm firing fails the run and names it; no data yet is only a warning.
      cw.on(DescribeAlarmsCommand).resolves({
        MetricAlarms: [
          { AlarmName: 'sluice-DeadLetters-default', StateValue: 'ALARM' },
          { AlarmName: 'sluice-OldestTransaction', StateValue: 'INSUFFICIENT_DATA' },
        ],
      });
      const firing = await run(['--stack', 'SluiceQueue', '--no-dead-letters', '--region', 'eu-west-1'], deps);
      assert.equal(firing.code, SMOKE_EXIT.failed);
      assert.match(firing.out, /^FAIL +alarms in OK \(\d+ ms\): in ALARM: sluice-DeadLetters-default$/m);
      assert.match(firing.out, /smoke failed \(exit 1\)\n$/);
      cw.on(DescribeAlarmsCommand).resolves({
        MetricAlarms: [
          { AlarmName: 'sluice-DeadLetters-default', StateValue: 'OK' },
          { AlarmName: 'sluice-OldestTransaction', StateValue: 'INSUFFICIENT_DATA' },
        ],
      });
      const pending = await run(['--stack', 'SluiceQueue', '--no-dead-letters', '--region', 'eu-west-1', '--json'], deps);
      assert.equal(pending.code, SMOKE_EXIT.passed);
      assert.deepEqual(pending.json().checks.at(-1), {
        name: 'alarms in OK',
        status: 'warn',
        detail: '1 OK; no data yet: sluice-OldestTransaction',
        ms: pending.json().checks.at(-1)?.ms,
      });

      // A stack that is not there, and AWS that cannot be reached.
      const err = Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' });
      cf.on(DescribeStacksCommand, { StackName: 'Nope' }).rejects(err);
      const missing = await run(['--stack', 'Nope', '--region', 'eu-west-1'], deps);
      assert.equal(missing.code, SMOKE_EXIT.failed);
      assert.match(missing.out, /stack Nope not found/);
      cf.on(DescribeStacksCommand, { StackName: 'Down' }).rejects(Object.assign(new Error('getaddrinfo ENOTFOUND'), { name: 'Error' }));
      const down = await run(['--stack', 'Down', '--region', 'eu-west-1'], deps);
      assert.equal(down.code, SMOKE_EXIT.unreachable);
    } finally {
      cf.restore();
      cw.restore();
    }
  });

  it('bad input is a usage error (2); an API that does not answer is unreachable (3)', async () => {
    assert.equal((await run([])).code, SMOKE_EXIT.usage);
    assert.equal((await run(['--api', api, '--timeout', 'soon'])).code, SMOKE_EXIT.usage);
    assert.equal((await run(['--api', 'ftp://example.com'])).code, SMOKE_EXIT.usage);
    assert.equal((await run(['--api', api, '--queue', 'Bad Queue'])).code, SMOKE_EXIT.usage);
    assert.equal((await run(['--api', api, '--bogus'])).code, SMOKE_EXIT.usage);
    const usage = await run(['--json']);
    assert.equal(JSON.parse(usage.out).error.code, 'USAGE');
    const port = await freePort();
    const closed = await run(['--api', `http://127.0.0.1:${port}`, '--json']);
    assert.equal(closed.code, SMOKE_EXIT.unreachable);
    assert.equal(closed.json().checks[0]?.status, 'fail');
    const help = await run(['--help']);
    assert.match(help.out, /^usage: sluice smoke/);
  });
});

function summary(type: string, id: string) {
  return {
    ResourceType: type,
    PhysicalResourceId: id,
    LogicalResourceId: id.replace(/-/g, ''),
    ResourceStatus: 'CREATE_COMPLETE' as const,
    LastUpdatedTimestamp: new Date(),
  };
}
