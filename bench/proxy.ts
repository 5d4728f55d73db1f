import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AuditRow, createGuard, type PolicyDocument, SqliteStore, type Store } from '@spendguard/core';
import autocannon from 'autocannon';
import { POLICIES } from './core-overhead.ts';
import type { ServerConfig, ServerMessage } from './proxy-server.ts';
import type { BenchResult, Check, LatencyRow, MetricRow } from './report.ts';
import { benchPrefix, REDIS_URL, RedisStore } from './servers.ts';
import { type Summary, summarize } from './stats.ts';

/**
 * The proxy under load, on loopback. One upstream for every target: a node:http server that
 * answers each request with one fixed Stripe charge. Not the testkit's fake Stripe: it parses,
 * validates and keeps every charge and idempotency key in memory, and answered about 4,600
 * charges/s on the 2-vCPU bench VM against 18,000 for the fixed answer, so it would cap the direct
 * and pass-through targets and flatter the ratios. Five targets, one after another, each
 * server in its own process (proxy-server.ts), the load generator (autocannon) in this one:
 *
 * - direct: the upstream itself;
 * - pass-through: node:http forwarding over an undici keep-alive pool, no checks (the floor);
 * - spendguard over SQLite, and over Redis: `serveProxy` with the agent's vault key;
 * - spendguard guard-only: `serveProxy` over the guard-only store (guard-only-store.ts: keys in
 *   memory, no caps, leases or audit), so the proxy's and the guard's own cost per request shows
 *   apart from the store's. It enforces nothing, so the goals are not its.
 *
 * Every request is a distinct charge (a fresh `metadata[order_id]`), so the proxy really runs
 * begin → upstream → finish and nothing is replayed. Per target: a warm-up, then one connection
 * (each call's own latency, no queueing) and CONNECTIONS connections (throughput; latency there
 * is mostly queueing). Goals from the issue: p50 added over direct ≤ 1 ms; throughput ≥ 60 % of
 * the pass-through's, with SQLite and with Redis.
 */

const CONNECTIONS = 10;
const WARMUP_SECONDS = 1;
const SINGLE_SECONDS = 3;
const LOADED_SECONDS = 5;
const TARGET_ADDED_P50_MS = 1;
const TARGET_THROUGHPUT_RATIO = 0.6;
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

/** The real Stripe secret: the upstream answers 401 to anything else. */
const STRIPE_SECRET = 'sk_test_spendguard_bench_upstream';
const SECRET_ENV = 'SPENDGUARD_BENCH_STRIPE_KEY';
const PROXY_POLICIES: PolicyDocument = { ...POLICIES, credentials: { stripe: { env: SECRET_ENV } } };

const SERVER = fileURLToPath(new URL('./proxy-server.ts', import.meta.url));

/** A proxy-server.ts process, driven over its IPC channel. */
class ServerProcess {
  readonly #child: ChildProcess;
  readonly url: string;
  /** The agent's vault token, from a server that issued the key itself (guard-only). */
  readonly token: string | undefined;

  private constructor(child: ChildProcess, url: string, token: string | undefined) {
    this.#child = child;
    this.url = url;
    this.token = token;
  }

  static async start(config: ServerConfig): Promise<ServerProcess> {
    const child = spawn(
      process.execPath,
      [
        '--conditions=@spendguard/source',
        // BENCH_CPU_PROF=<dir>: each server writes a V8 CPU profile there when it exits.
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
        SERVER,
        JSON.stringify(config),
      ],
      {
        // stdout ignored: whatever a server logs per request must not flood the bench's table.
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        env: { ...process.env, [SECRET_ENV]: STRIPE_SECRET },
      },
    );
    try {
      const message = await nextMessage(child, 'listening', START_TIMEOUT_MS);
      return new ServerProcess(child, message.url, message.token);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  /** Requests the upstream has answered so far. */
  async calls(): Promise<number> {
    const answer = nextMessage(this.#child, 'count', START_TIMEOUT_MS);
    this.#child.send('count');
    return (await answer).calls;
  }

  /** Ask it to finish what is in flight and exit; kill it if it does not in time. Its exit code. */
  async stop(): Promise<number | null> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return this.#child.exitCode;
    const exited = once(this.#child, 'exit');
    this.#child.send('exit');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    return code;
  }
}

function nextMessage<T extends ServerMessage['type']>(
  child: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<ServerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`no '${type}' from a proxy bench server in time`)),
      timeoutMs,
    );
    const onMessage = (message: ServerMessage) => {
      if (message.type === type) finish(undefined, message as Extract<ServerMessage, { type: T }>);
    };
    const onExit = (code: number | null) => finish(new Error(`a proxy bench server exited (${code})`));
    function finish(error?: Error, message?: Extract<ServerMessage, { type: T }>) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (message) resolve(message);
      else reject(error);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** What one autocannon phase saw. */
interface Phase {
  /** Latency of each 2xx answer, ns, in the order they came. */
  samplesNs: Float64Array;
  ok: number;
  /** Non-2xx answers by status, and errors. */
  failures: Map<string, number>;
  /** Requests written, including the ones still in flight when the phase ended. */
  sent: number;
  seconds: number;
}

let orderSeq = 0;

/** A Stripe charge as stripe-node sends it, with an order id no other request in this run has. */
function chargeBody(): string {
  orderSeq++;
  return `amount=500&currency=usd&customer=cus_bench&metadata%5Border_id%5D=ord_${process.pid}_${orderSeq}`;
}

function load(url: string, authorization: string, connections: number, seconds: number): Promise<Phase> {
  const latenciesMs: number[] = [];
  const failures = new Map<string, number>();
  const count = (label: string) => failures.set(label, (failures.get(label) ?? 0) + 1);
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections,
        duration: seconds,
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
        // Called for every request written: each is a new charge.
        requests: [{ setupRequest: (request) => ({ ...request, body: chargeBody() }) }],
      },
      (error, result) => {
        if (error) return reject(error);
        resolve({
          samplesNs: Float64Array.from(latenciesMs, (ms) => ms * 1e6),
          ok: latenciesMs.length,
          failures,
          sent: result.requests.sent,
          seconds: result.duration,
        });
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latenciesMs.push(ms);
      else count(`HTTP ${status}`);
    });
    instance.on('reqError', (error: Error) => count(error.message));
  });
}

interface Target {
  name: string;
  /** Where the load goes: the path prefix routes a spendguard proxy to Stripe. */
  path: string;
  server: ServerConfig | null;
  /** Whether the issue's goals are this target's (spendguard over a real store). */
  goals: boolean;
  /** The vault token (spendguard) or the real secret (direct, pass-through), once its server runs. */
  authorization: (server: ServerProcess) => Promise<string>;
  /** The spendguard store this target's proxy used, opened afresh to read its audit rows. */
  audit?: () => Store;
  cleanup: () => Promise<void>;
}

interface TargetRun {
  name: string;
  goals: boolean;
  single: Phase;
  loaded: Phase;
  upstreamCalls: number;
  /** Answers and requests over all three phases, warm-up included. */
  ok: number;
  sent: number;
  failures: Map<string, number>;
  /** Audit rows by `decision/code` (spendguard targets). */
  decisions?: Map<string, number>;
  serverExit: number | null;
}

async function runTarget(target: Target, upstream: ServerProcess): Promise<TargetRun> {
  try {
    const server = target.server ? await ServerProcess.start(target.server) : upstream;
    let serverExit: number | null = 0;
    const callsBefore = await upstream.calls();
    const phases: Phase[] = [];
    try {
      const authorization = `Bearer ${await target.authorization(server)}`;
      const url = `${server.url}${target.path}`;
      phases.push(await load(url, authorization, CONNECTIONS, WARMUP_SECONDS));
      phases.push(await load(url, authorization, 1, SINGLE_SECONDS));
      phases.push(await load(url, authorization, CONNECTIONS, LOADED_SECONDS));
    } finally {
      // Stopped before counting: requests cut off at a phase's end finish their upstream call first.
      if (server !== upstream) serverExit = await server.stop();
    }
    const failures = new Map<string, number>();
    for (const phase of phases)
      for (const [label, n] of phase.failures) failures.set(label, (failures.get(label) ?? 0) + n);
    // No 2xx at all means nothing was measured: say what came instead of a table of nothing.
    if (phases.some((phase) => phase.ok === 0)) {
      throw new Error(`${target.name}: a phase got no 2xx answer (${labelled(failures)})`);
    }
    return {
      name: target.name,
      goals: target.goals,
      single: phases[1] as Phase,
      loaded: phases[2] as Phase,
      upstreamCalls: (await upstream.calls()) - callsBefore,
      ok: phases.reduce((n, p) => n + p.ok, 0),
      sent: phases.reduce((n, p) => n + p.sent, 0),
      failures,
      ...(target.audit && { decisions: await auditDecisions(target.audit()) }),
      serverExit,
    };
  } finally {
    await target.cleanup();
  }
}

/** Every audit row's `decision/code`, counted, read page by page. */
async function auditDecisions(store: Store): Promise<Map<string, number>> {
  const decisions = new Map<string, number>();
  try {
    let afterSeq = 0;
    for (;;) {
      const rows: AuditRow[] = await store.readAudit({ afterSeq, limit: 5_000 });
      for (const row of rows) {
        const label = `${row.decision}/${row.code}`;
        decisions.set(label, (decisions.get(label) ?? 0) + 1);
      }
      const last = rows.at(-1);
      if (!last) return decisions;
      afterSeq = last.seq;
    }
  } finally {
    await store.close();
  }
}

/** Issue the agent's root key on a store the proxy process will open too. */
async function issueRootToken(store: Store): Promise<string> {
  const guard = createGuard({ policies: PROXY_POLICIES, store });
  try {
    return (await guard.keys.issueRoot({ policy: 'billing', name: 'proxy-bench' })).token;
  } finally {
    await guard.close();
  }
}

function targets(upstream: string): Target[] {
  const sqliteDir = mkdtempSync(join(tmpdir(), 'spendguard-proxy-bench-'));
  const sqliteFile = join(sqliteDir, 'proxy.db');
  const prefix = benchPrefix('proxy');
  const real = async () => STRIPE_SECRET;
  return [
    {
      name: 'direct',
      path: '/v1/charges',
      server: null,
      goals: false,
      authorization: real,
      cleanup: async () => {},
    },
    {
      name: 'pass-through',
      path: '/v1/charges',
      server: { role: 'passthrough', upstream },
      goals: false,
      authorization: real,
      cleanup: async () => {},
    },
    {
      name: 'spendguard guard-only',
      path: '/stripe/v1/charges',
      server: {
        role: 'spendguard',
        upstream,
        policies: PROXY_POLICIES,
        store: { kind: 'guard-only' },
      },
      goals: false,
      authorization: async (server) => {
        if (server.token === undefined) throw new Error('the guard-only proxy sent no token');
        return server.token;
      },
      cleanup: async () => {},
    },
    {
      name: 'spendguard sqlite',
      path: '/stripe/v1/charges',
      server: {
        role: 'spendguard',
        upstream,
        policies: PROXY_POLICIES,
        store: { kind: 'sqlite', file: sqliteFile },
      },
      goals: true,
      authorization: () => issueRootToken(new SqliteStore({ file: sqliteFile })),
      audit: () => new SqliteStore({ file: sqliteFile }),
      cleanup: async () => rmSync(sqliteDir, { recursive: true, force: true }),
    },
    {
      name: 'spendguard redis',
      path: '/stripe/v1/charges',
      server: {
        role: 'spendguard',
        upstream,
        policies: PROXY_POLICIES,
        store: { kind: 'redis', url: REDIS_URL, prefix },
      },
      goals: true,
      authorization: () => issueRootToken(new RedisStore({ url: REDIS_URL, prefix })),
      audit: () => new RedisStore({ url: REDIS_URL, prefix }),
      cleanup: async () => {
        const sweeper = new RedisStore({ url: REDIS_URL, prefix });
        try {
          await sweeper.clear();
        } finally {
          await sweeper.close();
        }
      },
    },
  ];
}

function latencyRow(store: string, path: string, series: Summary, direct: Summary): LatencyRow {
  return {
    store,
    path,
    ...series,
    bareP50Us: direct.p50Us,
    overheadP50Us: series.p50Us - direct.p50Us,
    ratio: series.p50Us / direct.p50Us,
    targetP50Us: null,
    meetsTarget: null,
  };
}

const perSecond = (phase: Phase) => phase.ok / phase.seconds;
const ms = (us: number) => (us / 1000).toFixed(2);
const labelled = (counts: Map<string, number>) =>
  [...counts].map(([label, n]) => `${label} × ${n}`).join(', ');

function checksFor(run: TargetRun): Check[] {
  const failed = [...run.failures.values()].reduce((a, b) => a + b, 0);
  const checks: Check[] = [
    {
      name: `${run.name}: every answer 2xx, no request errors`,
      expected: run.ok + failed,
      actual: run.ok,
      ok: failed === 0,
      ...(failed > 0 && { detail: labelled(run.failures) }),
    },
    {
      name: `${run.name}: server exited cleanly`,
      expected: 0,
      actual: run.serverExit ?? -1,
      ok: run.serverExit === 0,
    },
  ];
  const cutOff = `${run.sent - run.ok} requests in flight when a phase ended`;
  if (!run.decisions) {
    checks.push({
      name: `${run.name}: upstream called once per answered request (+ the cut-off ones)`,
      expected: run.ok,
      actual: run.upstreamCalls,
      ok: run.upstreamCalls >= run.ok && run.upstreamCalls <= run.sent,
      detail: cutOff,
    });
    return checks;
  }
  const executed = run.decisions.get('executed/executed') ?? 0;
  const rows = [...run.decisions.values()].reduce((a, b) => a + b, 0);
  const others = new Map([...run.decisions].filter(([label]) => label !== 'executed/executed'));
  checks.push(
    {
      name: `${run.name}: audit rows decided executed`,
      expected: rows,
      actual: executed,
      ok: executed === rows,
      ...(others.size > 0 && { detail: labelled(others) }),
    },
    {
      name: `${run.name}: executed decisions = answered requests (+ the cut-off ones)`,
      expected: run.ok,
      actual: executed,
      ok: executed >= run.ok && executed <= run.sent,
      detail: cutOff,
    },
    {
      name: `${run.name}: upstream called once per executed decision`,
      expected: executed,
      actual: run.upstreamCalls,
      ok: run.upstreamCalls === executed,
    },
  );
  return checks;
}

export async function proxy(): Promise<BenchResult> {
  const upstream = await ServerProcess.start({ role: 'upstream', secret: STRIPE_SECRET });
  const runs: TargetRun[] = [];
  let upstreamExit: number | null = null;
  try {
    for (const target of targets(upstream.url)) runs.push(await runTarget(target, upstream));
  } finally {
    upstreamExit = await upstream.stop();
  }

  const [direct, passthrough] = runs as [TargetRun, TargetRun, ...TargetRun[]];
  const directSingle = summarize(direct.single.samplesNs);
  const directLoaded = summarize(direct.loaded.samplesNs);
  const rows: LatencyRow[] = [];
  const metrics: MetricRow[] = [];
  const checks: Check[] = [
    { name: 'upstream exited cleanly', expected: 0, actual: upstreamExit ?? -1, ok: upstreamExit === 0 },
  ];
  for (const run of runs) {
    const guarded = run.goals;
    const single = summarize(run.single.samplesNs);
    const loaded = summarize(run.loaded.samplesNs);
    rows.push(
      latencyRow(run.name, '1 connection', single, directSingle),
      latencyRow(run.name, `${CONNECTIONS} connections`, loaded, directLoaded),
    );
    checks.push(...checksFor(run));
    if (run === direct) continue;
    for (const [label, series, baseline] of [
      ['1 connection', single, directSingle],
      [`${CONNECTIONS} connections`, loaded, directLoaded],
    ] as const) {
      const addedP50Ms = (series.p50Us - baseline.p50Us) / 1000;
      metrics.push(
        {
          store: run.name,
          metric: `added p50 over direct, ${label}`,
          value: addedP50Ms,
          unit: 'ms',
          target: guarded ? `≤ ${TARGET_ADDED_P50_MS} ms` : null,
          meetsTarget: guarded ? addedP50Ms <= TARGET_ADDED_P50_MS : null,
          note: `p50 ${ms(series.p50Us)} vs ${ms(baseline.p50Us)} ms`,
        },
        {
          store: run.name,
          metric: `added p99 over direct, ${label}`,
          value: (series.p99Us - baseline.p99Us) / 1000,
          unit: 'ms',
          target: null,
          meetsTarget: null,
          note: `p99 ${ms(series.p99Us)} vs ${ms(baseline.p99Us)} ms`,
        },
      );
    }
  }
  for (const run of runs) {
    const guarded = run.goals;
    const ratio = perSecond(run.loaded) / perSecond(passthrough.loaded);
    metrics.push(
      {
        store: run.name,
        metric: `throughput, ${CONNECTIONS} connections`,
        value: perSecond(run.loaded),
        unit: 'calls/s',
        target: null,
        meetsTarget: null,
        note: `${run.loaded.ok} answers in ${run.loaded.seconds} s`,
      },
      {
        store: run.name,
        metric: 'throughput vs pass-through',
        value: ratio,
        unit: '×',
        target: guarded ? `≥ ${TARGET_THROUGHPUT_RATIO}×` : null,
        meetsTarget: guarded ? ratio >= TARGET_THROUGHPUT_RATIO : null,
        note: 'calls/s ÷ pass-through calls/s',
      },
    );
  }
  return {
    name: 'proxy',
    title: `the proxy on loopback: direct, undici pass-through, spendguard over the guard-only store, SQLite and Redis (autocannon, POST charges; 1 connection × ${SINGLE_SECONDS} s and ${CONNECTIONS} × ${LOADED_SECONDS} s per target; µs; bare = direct)`,
    rows,
    metrics,
    checks,
  };
}
