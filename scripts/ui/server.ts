/**
 * The web console (`sluice ui`, and served by `sluice dev`): queues with pause and resume, dead letters with
 * redrive and purge (a count first, then a confirmation), and a job's page. Every action goes through the
 * same library calls as the API. Loopback only by default; bound elsewhere, it needs a token. `readOnly`
 * hides every action and refuses them. Server-rendered HTML; the overview's charts are the one script
 * (uPlot, served from the package itself); nothing is loaded from elsewhere.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ConfigError, type JobFilter, LIVE_STATES, type Sluice, ValidationError } from '../../src/index.js';
import { jobIdSchema } from '../../src/text.js';
import { actOnDeadLetters } from '../deadLetters.js';
import { nextCronRun, parseCron } from '../dev/cron.js';
import { loopbackHosts } from '../dev/net.js';
import { assets } from './charts.js';
import { jobPage } from './jobPages.js';
import { confirmCancelPage, filterOf, jobsListPage, listFieldsOf } from './jobsList.js';
import { confirmPage, deadLettersPage, donePage, esc, layout, overviewPage, type PageContext, periodicPage } from './pages.js';

export interface ConsoleOptions {
  sluice: Sluice;
  /** Default 127.0.0.1. Any other address needs `token`. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Required off loopback: given as `Authorization: Bearer …`, or once as `?token=…` (then kept in a cookie). */
  token?: string | undefined;
  readOnly?: boolean;
  /** The app's periodic jobs (its config), for their page: schedule and next run. */
  periodicJobs?: ReadonlyArray<{ name: string; schedule: string; type: string; queue?: string | undefined }>;
  /** The clock the next runs are counted from (tests). */
  now?: () => Date;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const WINDOWS = {
  hour: { name: 'hour', label: 'the last hour', sinceMs: 3_600_000 },
  day: { name: 'day', label: 'the last day', sinceMs: 86_400_000 },
} as const;
const PAGE = 50;
const MAX_FORM = 16 * 1024;
const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  // same-origin: the console's own forms carry their Origin (no-referrer would make it `null`); other sites see nothing.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return undefined; // a malformed cookie is no token
    }
  }
  return undefined;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM) throw new HttpProblem(413, 'the form is too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Start the console; resolves with its URL and a way to stop it. */
export async function startConsole(options: ConsoleOptions): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host) && !options.token) {
    throw new ConfigError(`the console listens on ${host}, beyond this machine: give it a token (--token) so that only you can use it`);
  }
  const { sluice } = options;
  const files = assets();
  const periodic = options.periodicJobs ?? [];
  const ctx: PageContext = {
    readOnly: options.readOnly ?? false,
    csrf: randomBytes(18).toString('base64url'),
    periodic: periodic.length > 0,
  };
  const nextRun = (schedule: string, now: Date): Date | string => {
    if (schedule.startsWith('rate(')) return `every ${schedule.slice(5, -1)} (EventBridge sets the phase)`;
    try {
      return nextCronRun(parseCron(schedule), now) ?? 'none within a year';
    } catch (err) {
      return `not computed here: ${(err as Error).message}`;
    }
  };

  const authorised = (req: IncomingMessage, url: URL): boolean => {
    if (!options.token) return true;
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const given = bearer ?? cookie(req, 'sluice_console') ?? url.searchParams.get('token') ?? '';
    return same(given, options.token);
  };

  const send = (res: ServerResponse, status: number, html: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { ...HEADERS, ...extra });
    res.end(html);
  };
  const redirect = (res: ServerResponse, to: string, extra: Record<string, string> = {}) => {
    res.writeHead(303, { ...HEADERS, location: to, ...extra });
    res.end();
  };

  /** A dead-letter action's scope from its form: one id, or a queue and/or type, or every dead letter. */
  const scopeOf = (form: URLSearchParams) => {
    const id = form.get('id') ?? undefined;
    if (id !== undefined && !jobIdSchema.safeParse(id).success) throw new HttpProblem(400, 'not a job id');
    const queue = form.get('queue') || undefined;
    const type = form.get('type') || undefined;
    const fields = { ...(id ? { id } : {}), ...(queue ? { queue } : {}), ...(type ? { type } : {}) };
    return { fields, filter: id ? { ids: [id] } : { ...(queue ? { queue } : {}), ...(type ? { type } : {}) } };
  };

  /** A filter narrowed to live jobs (what a cancel changes): its own live states, or all three. */
  const liveOnly = (filter: JobFilter) => {
    const asked: readonly string[] = typeof filter.state === 'string' ? [filter.state] : (filter.state ?? LIVE_STATES);
    return { ...filter, state: LIVE_STATES.filter((x) => asked.includes(x)) };
  };
  const liveCount = async (filter: JobFilter) => {
    const f = liveOnly(filter);
    return f.state.length === 0 ? 0 : sluice.countJobs(f);
  };

  /**
   * Without a token the console trusts loopback alone, so the request must name this machine: a page of
   * another site that rebinds its name to 127.0.0.1 (DNS rebinding) would otherwise be same-origin with
   * the console. A form's Origin, when the browser sends one, must be the console itself.
   */
  const rightHost = (req: IncomingMessage, port: number): boolean => {
    if (options.token) return true;
    const names = loopbackHosts(port);
    if (!names.includes(req.headers.host ?? '')) return false;
    // (`null`: the browser withholds the origin, as some privacy settings do; the form's CSRF token still guards it.)
    const origin = req.headers.origin;
    if (origin === undefined || origin === 'null') return true;
    return names.some((n) => origin === `http://${n}`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!rightHost(req, (server.address() as { port: number }).port))
      throw new HttpProblem(421, 'this console answers on its own address only');
    const url = new URL(req.url ?? '/', 'http://console');
    if (!authorised(req, url)) return send(res, 401, layout('Sign in', '<p>This console needs its token: open it with ?token=…</p>', ctx));
    if (options.token && url.searchParams.has('token')) {
      // Keep the token in a cookie (HttpOnly, this site only) and drop it from the address bar.
      url.searchParams.delete('token');
      // (One leading slash: `//host` would leave this site.)
      return redirect(res, `/${url.pathname.replace(/^\/+/, '')}${url.search}`, {
        'set-cookie': `sluice_console=${encodeURIComponent(options.token)}; HttpOnly; SameSite=Strict; Path=/`,
      });
    }
    const path = url.pathname;
    if (req.method === 'GET') {
      const file = files[path];
      if (file) {
        res.writeHead(200, { ...HEADERS, 'content-type': file.type, 'cache-control': 'max-age=3600' });
        return res.end(file.body);
      }
      if (path === '/favicon.ico') {
        res.writeHead(204, HEADERS);
        return res.end();
      }
      if (path === '/') {
        const window = url.searchParams.get('window') === 'day' ? WINDOWS.day : WINDOWS.hour;
        const [stats, activity] = await Promise.all([sluice.stats(), sluice.activity({ sinceMs: window.sinceMs })]);
        return send(res, 200, overviewPage(stats, activity, window, ctx));
      }
      if (path === '/jobs') {
        const id = url.searchParams.get('id')?.trim();
        if (id && jobIdSchema.safeParse(id).success) return redirect(res, `/jobs/${id}`);
        const fields = listFieldsOf(url.searchParams);
        const before = url.searchParams.get('before') || undefined;
        const filter = filterOf(fields);
        try {
          const [page, total, live] = await Promise.all([
            sluice.jobPage({ ...filter, ...(before ? { before } : {}), limit: PAGE }),
            sluice.countJobs(filter),
            liveCount(filter),
          ]);
          const message = id ? `${id} is not a job id` : '';
          return send(res, id ? 400 : 200, jobsListPage({ ...page, fields, total, live }, ctx, message));
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err;
          return send(res, 400, jobsListPage({ jobs: [], next: null, fields, total: 0, live: 0 }, ctx, err.message));
        }
      }
      const job = /^\/jobs\/([^/]+)$/.exec(path);
      if (job) {
        const id = job[1] as string;
        const valid = jobIdSchema.safeParse(id).success;
        const [found, timeline] = valid ? await Promise.all([sluice.getJob(id), sluice.jobTimeline(id)]) : [null, []];
        if (!found) return send(res, 404, layout('Not found', `<p class="err">No job ${esc(id)}.</p><p><a href="/jobs">Jobs</a></p>`, ctx));
        return send(res, 200, jobPage(found, timeline, url.searchParams.get('payload') === '1', ctx));
      }
      if (path === '/periodic') {
        const now = options.now?.() ?? new Date();
        return send(
          res,
          200,
          periodicPage(
            periodic.map((p) => ({ ...p, next: nextRun(p.schedule, now) })),
            ctx,
          ),
        );
      }
      if (path === '/dead-letters') {
        const filter = { queue: url.searchParams.get('queue') || undefined, type: url.searchParams.get('type') || undefined };
        const after = url.searchParams.get('after') || undefined;
        const given = { ...(filter.queue ? { queue: filter.queue } : {}), ...(filter.type ? { type: filter.type } : {}) };
        const { jobs, next } = await sluice.deadLetterPage({ ...given, ...(after ? { after } : {}), limit: PAGE });
        return send(res, 200, deadLettersPage({ jobs, next, filter, total: await sluice.countDeadLetters(given) }, ctx));
      }
      throw new HttpProblem(404, `no page ${path}`);
    }
    if (req.method !== 'POST') throw new HttpProblem(405, `${req.method} is not allowed`);
    if (ctx.readOnly) throw new HttpProblem(403, 'this console is read-only');
    if (req.headers['sec-fetch-site'] === 'cross-site') throw new HttpProblem(403, 'a cross-site request');
    const form = await readForm(req);
    if (!same(form.get('csrf') ?? '', ctx.csrf)) throw new HttpProblem(403, 'the form has expired: reload the page and try again');
    const queueAction = /^\/queues\/([^/]+)\/(pause|resume)$/.exec(path);
    if (queueAction) {
      const queue = decodeURIComponent(queueAction[1] as string);
      await (queueAction[2] === 'pause' ? sluice.pauseQueue(queue) : sluice.resumeQueue(queue));
      return redirect(res, '/');
    }
    if (path === '/jobs/cancel') {
      const fields = listFieldsOf(form);
      if (Object.keys(fields).length === 0) throw new HttpProblem(400, 'name which jobs to cancel: filter the list first');
      const filter = filterOf(fields);
      if (form.get('confirm') !== '1')
        return send(res, 200, confirmCancelPage(await liveCount(filter), fields, randomBytes(12).toString('base64url'), ctx));
      const key = form.get('requestKey') || undefined; // the confirmation's own idempotency key (not the `key` filter)
      const done = await sluice.cancelMatching(liveOnly(filter), key ? { idempotencyKey: `console:${key}` } : {});
      const n = done.cancelled.length + done.cancelling.length;
      const running = done.cancelling.length > 0 ? ` (${done.cancelling.length} running, asked to stop)` : '';
      return send(
        res,
        200,
        donePage(
          `${done.replayed ? 'Already done: ' : ''}Cancelled: ${n} job${n === 1 ? '' : 's'}${running}.`,
          `/jobs?${new URLSearchParams(fields)}`,
          ctx,
        ),
      );
    }
    const cancel = /^\/jobs\/([^/]+)\/cancel$/.exec(path);
    if (cancel) {
      const id = cancel[1] as string;
      if (!jobIdSchema.safeParse(id).success) throw new HttpProblem(400, 'not a job id');
      await sluice.cancel([id]);
      return redirect(res, `/jobs/${id}`);
    }
    const dead = /^\/dead-letters\/(redrive|purge)$/.exec(path);
    if (dead) {
      const what = dead[1] as 'redrive' | 'purge';
      const { fields, filter } = scopeOf(form);
      if (form.get('confirm') !== '1')
        return send(res, 200, confirmPage(what, await sluice.countDeadLetters(filter), fields, randomBytes(12).toString('base64url'), ctx));
      const key = form.get('requestKey') || undefined;
      const n = (await actOnDeadLetters(sluice, what, filter, key ? { idempotencyKey: `console:${key}` } : {})).length;
      return send(
        res,
        200,
        donePage(`${what === 'redrive' ? 'Redriven' : 'Purged'}: ${n} dead letter${n === 1 ? '' : 's'}.`, '/dead-letters', ctx),
      );
    }
    throw new HttpProblem(404, `no action ${path}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpProblem ? err.status : err instanceof ValidationError ? 400 : 500;
      // A 500 says nothing of the internals; the others say what was wrong.
      const message = status === 500 ? 'Something went wrong; nothing was changed by this page.' : (err as Error).message;
      if (!res.headersSent) send(res, status, layout(status === 404 ? 'Not found' : 'Not done', `<p class="err">${esc(message)}</p>`, ctx));
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address() as { port: number };
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${address.port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
