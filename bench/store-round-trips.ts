import {
  createGuard,
  type ExecuteDecision,
  type ExecuteRequest,
  type Guard,
  type Store,
} from '@spendguard/core';
import type { BeginPlan, FinishInput } from '@spendguard/core/store-kit';
import { freshCharge, POLICIES, repeatedCharge } from './core-overhead.ts';
import type { BenchResult, Check, LatencyRow, MetricRow } from './report.ts';
import {
  barePool,
  bareRedis,
  benchPrefix,
  benchSchema,
  cpuSince,
  POSTGRES_URL,
  PostgresStore,
  REDIS_URL,
  RedisStore,
  serverCpu,
} from './servers.ts';
import { type Summary, summarize } from './stats.ts';

/**
 * `guard.execute` on the shared stores (Redis, Postgres) against the cost of the network itself:
 *
 * - store round trips per call, counted by the store (`stats.commands`, `stats.roundTrips`) over
 *   the measured calls: an executed call (goal: 2, one for begin and one for complete), and the
 *   begin-only paths (a replay, a denial);
 * - single client: each `execute` (fresh params, so a real begin → no-op vendor → complete) timed
 *   right after two sequential bare round trips on the same kind of connection (`PING` on an
 *   ioredis client, `SELECT 1` through a pg Pool); ratio = execute p50 / bare-pair p50 (goal ≤ 1.5);
 * - 32 concurrent callers in this process: calls/s of `execute` against pairs/s of bare round
 *   trips (phases bare → execute → bare); ratio = bare pairs/s ÷ execute calls/s (goal ≤ 1.5),
 *   with the CPU each spends in this process and in the server, to show where the time goes.
 */

type Charge = { id: string; object: string };

let vendorCalls = 0;
const noop = async (): Promise<Charge> => {
  vendorCalls++;
  return { id: 'ch_1', object: 'charge' };
};

const SINGLE_TARGET_RATIO = 1.5;
const CONCURRENT_TARGET_RATIO = 1.5;
const ROUND_TRIP_TARGET = 2;
const CALLERS = 32;

interface Backend {
  name: 'redis' | 'postgres';
  /** `PING` or `SELECT 1`, for row labels. */
  bare: string;
  store: Store;
  /** The store's own count of waits for the server so far. */
  roundTrips(): number;
  /** Statements (Postgres) sent so far, when the store counts them separately from round trips. */
  statements?(): number;
  /** One bare round trip on the same kind of connection the store uses. */
  bareRoundTrip(): Promise<void>;
  /** `comm` of the server's processes, to read their CPU from /proc. */
  serverProcess: string;
  /** What the store's round-trip counter is (for the table's `how` column). */
  counter: string;
  close(): Promise<void>;
}

interface Plan {
  name: 'redis' | 'postgres';
  warmup: number;
  calls: number;
  /** Replays and denials measured (begin-only paths). */
  beginOnly: number;
  warmupMs: number;
  bareMs: number;
  executeMs: number;
  open: () => Promise<Backend>;
}

const PLANS: Plan[] = [
  {
    name: 'redis',
    warmup: 1_000,
    calls: 3_000,
    beginOnly: 500,
    warmupMs: 1_000,
    bareMs: 1_500,
    executeMs: 3_000,
    open: openRedis,
  },
  {
    name: 'postgres',
    warmup: 500,
    calls: 2_000,
    beginOnly: 300,
    warmupMs: 1_000,
    bareMs: 1_500,
    executeMs: 3_000,
    open: openPostgres,
  },
];

async function openRedis(): Promise<Backend> {
  const store = new RedisStore({ url: REDIS_URL, prefix: benchPrefix('rt') });
  // The store round-robins over two connections (its default poolSize); so do the bare PINGs.
  const clients = [bareRedis(REDIS_URL), bareRedis(REDIS_URL)];
  let next = 0;
  return {
    name: 'redis',
    bare: 'PING',
    store,
    roundTrips: () => store.stats.commands,
    bareRoundTrip: async () => {
      const client = clients[next++ % clients.length] as (typeof clients)[number];
      const reply = await client.ping();
      if (reply !== 'PONG') throw new Error(`PING answered ${reply}`);
    },
    serverProcess: 'redis-server',
    counter: 'store.stats.commands',
    close: async () => {
      try {
        await store.clear();
      } finally {
        await Promise.all(clients.map((c) => c.quit()));
      }
    },
  };
}

async function openPostgres(): Promise<Backend> {
  const schema = benchSchema('rt');
  const store = new PostgresStore({ url: POSTGRES_URL, schema });
  // A Pool of the store's default size; each bare SELECT checks a client out and back, as each
  // store step does.
  const pool = barePool(POSTGRES_URL);
  try {
    await store.migrate();
  } catch (error) {
    await pool.end();
    throw error;
  }
  return {
    name: 'postgres',
    bare: 'SELECT 1',
    store,
    roundTrips: () => store.stats.roundTrips,
    statements: () => store.stats.queries,
    bareRoundTrip: async () => {
      const result = await pool.query('SELECT 1 AS one');
      if ((result.rows[0] as { one?: number } | undefined)?.one !== 1) throw new Error('SELECT 1 failed');
    },
    serverProcess: 'postgres',
    counter: 'store.stats.roundTrips',
    close: async () => {
      try {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await pool.end();
      }
    },
  };
}

/** How long the last begin and finish took, to split a single-client call into its parts. */
interface StepTimes {
  beginNs: number;
  finishNs: number;
}

/** The store with its begin and finish timed (one hrtime pair each: well under a µs). */
function timeSteps(inner: Store): { store: Store; last: StepTimes } {
  const last: StepTimes = { beginNs: 0, finishNs: 0 };
  const begin = async (plan: BeginPlan) => {
    const t0 = process.hrtime.bigint();
    try {
      return await inner.begin(plan);
    } finally {
      last.beginNs = Number(process.hrtime.bigint() - t0);
    }
  };
  const finish = async (input: FinishInput) => {
    const t0 = process.hrtime.bigint();
    try {
      return await inner.finish(input);
    } finally {
      last.finishNs = Number(process.hrtime.bigint() - t0);
    }
  };
  const store = new Proxy(inner, {
    get(target, property) {
      if (property === 'begin') return begin;
      if (property === 'finish') return finish;
      const value: unknown = Reflect.get(target, property, target);
      // The stores keep private fields: their methods must run with the store itself as `this`.
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store, last };
}

/** Decisions counted against the one expected (`decision/code`). */
class Tally {
  matched = 0;
  readonly unexpected = new Map<string, number>();
  readonly expected: string;
  constructor(expected: string) {
    this.expected = expected;
  }

  add(decision: ExecuteDecision<unknown>): void {
    const label = `${decision.decision}/${decision.code}`;
    if (label === this.expected) this.matched++;
    else this.unexpected.set(label, (this.unexpected.get(label) ?? 0) + 1);
  }

  check(name: string, expected: number): Check {
    const detail = [...this.unexpected].map(([label, n]) => `${label} × ${n}`).join(', ');
    return { name, expected, actual: this.matched, ok: this.matched === expected, ...(detail && { detail }) };
  }
}

interface Interleaved {
  guarded: Summary;
  bare: Summary;
  tally: Tally;
  /** Store round trips (and statements) the guarded calls sent, in total. */
  roundTrips: number;
  statements: number;
  vendorCalls: number;
  /** p50 of begin, finish, and of the rest of each call (the guard's own work and the vendor). */
  beginP50Us: number;
  finishP50Us: number;
  restP50Us: number;
}

/** `calls` guarded calls, each timed right after a bare pair of round trips. */
async function interleaved(
  backend: Backend,
  guard: Guard,
  last: StepTimes,
  calls: number,
  request: () => ExecuteRequest,
  expected: string,
): Promise<Interleaved> {
  const bare = new Float64Array(calls);
  const guarded = new Float64Array(calls);
  const begins = new Float64Array(calls);
  const finishes = new Float64Array(calls);
  const rests = new Float64Array(calls);
  const tally = new Tally(expected);
  const trips0 = backend.roundTrips();
  const statements0 = backend.statements?.() ?? 0;
  const vendor0 = vendorCalls;
  for (let i = 0; i < calls; i++) {
    const req = request();
    const t0 = process.hrtime.bigint();
    await backend.bareRoundTrip();
    await backend.bareRoundTrip();
    const t1 = process.hrtime.bigint();
    last.beginNs = 0;
    last.finishNs = 0;
    const decision = await guard.execute(req, noop);
    const t2 = process.hrtime.bigint();
    const total = Number(t2 - t1);
    bare[i] = Number(t1 - t0);
    guarded[i] = total;
    begins[i] = last.beginNs;
    finishes[i] = last.finishNs;
    rests[i] = total - last.beginNs - last.finishNs;
    tally.add(decision);
  }
  const trips = backend.roundTrips() - trips0;
  const statements = (backend.statements?.() ?? 0) - statements0;
  return {
    guarded: summarize(guarded),
    bare: summarize(bare),
    tally,
    roundTrips: trips,
    statements,
    vendorCalls: vendorCalls - vendor0,
    beginP50Us: summarize(begins).p50Us,
    finishP50Us: summarize(finishes).p50Us,
    restP50Us: summarize(rests).p50Us,
  };
}

interface Concurrent {
  samples: Float64Array;
  ops: number;
  wallMs: number;
  perSecond: number;
  /** µs of this process's CPU, and of the server's, per operation; null when /proc cannot tell. */
  clientCpuUs: number;
  serverCpuUs: number | null;
}

/** `callers` loops running `op` back to back until `durationMs` is up. */
async function concurrent(
  callers: number,
  durationMs: number,
  serverProcess: string,
  op: () => Promise<void>,
): Promise<Concurrent> {
  const samples: number[] = [];
  const cpu0 = process.cpuUsage();
  const server0 = serverCpu(serverProcess);
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < deadline) {
        const t0 = process.hrtime.bigint();
        await op();
        samples.push(Number(process.hrtime.bigint() - t0));
      }
    }),
  );
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const server = cpuSince(serverProcess, server0);
  const ops = samples.length;
  return {
    samples: Float64Array.from(samples),
    ops,
    wallMs,
    perSecond: ops / (wallMs / 1000),
    clientCpuUs: (cpu.user + cpu.system) / ops,
    serverCpuUs: server === null ? null : server / ops,
  };
}

/** The two bare phases around the execute phase, pooled: drift during the run affects both sides alike. */
function pooled(a: Concurrent, b: Concurrent): Concurrent {
  const ops = a.ops + b.ops;
  const wallMs = a.wallMs + b.wallMs;
  const samples = new Float64Array(ops);
  samples.set(a.samples);
  samples.set(b.samples, a.ops);
  return {
    samples,
    ops,
    wallMs,
    perSecond: ops / (wallMs / 1000),
    clientCpuUs: (a.clientCpuUs * a.ops + b.clientCpuUs * b.ops) / ops,
    serverCpuUs:
      a.serverCpuUs === null || b.serverCpuUs === null
        ? null
        : (a.serverCpuUs * a.ops + b.serverCpuUs * b.ops) / ops,
  };
}

function row(
  store: string,
  path: string,
  series: Summary,
  bareP50Us: number,
  targetRatio: number | null,
): LatencyRow {
  const ratio = series.p50Us / bareP50Us;
  return {
    store,
    path,
    ...series,
    bareP50Us,
    overheadP50Us: series.p50Us - bareP50Us,
    ratio,
    targetP50Us: null,
    targetRatio,
    meetsTarget: targetRatio === null ? null : ratio <= targetRatio,
  };
}

function metric(
  store: string,
  name: string,
  value: number,
  unit: string,
  note: string,
  goal?: { target: string; meets: boolean },
): MetricRow {
  return {
    store,
    metric: name,
    value,
    unit,
    target: goal?.target ?? null,
    meetsTarget: goal?.meets ?? null,
    note,
  };
}

async function benchStore(
  plan: Plan,
): Promise<{ rows: LatencyRow[]; metrics: MetricRow[]; checks: Check[] }> {
  const backend = await plan.open();
  const { store, last } = timeSteps(backend.store);
  const guard = createGuard({ policies: POLICIES, store });
  const name = plan.name;
  const pair = `2× ${backend.bare}`;
  try {
    const { token } = await guard.keys.issueRoot({ policy: 'billing', name: 'bench' });

    // Warm-up: scripts cached on the server, key and token cached by the guard, JIT, pools full.
    await interleaved(backend, guard, last, plan.warmup, () => freshCharge(token), 'executed/executed');
    const single = await interleaved(
      backend,
      guard,
      last,
      plan.calls,
      () => freshCharge(token),
      'executed/executed',
    );

    // Begin-only paths: a replay of a stored result, and a key revoked after it was cached.
    const first = await guard.execute(repeatedCharge(token), noop);
    if (first.decision !== 'executed') {
      throw new Error(`replay setup: first call was ${first.decision}/${first.code}: ${first.message}`);
    }
    await interleaved(backend, guard, last, 50, () => repeatedCharge(token), 'replayed/replayed');
    const replayed = await interleaved(
      backend,
      guard,
      last,
      plan.beginOnly,
      () => repeatedCharge(token),
      'replayed/replayed',
    );
    const revokedKey = await guard.keys.issueRoot({ policy: 'billing', name: 'bench-revoked' });
    const cached = await guard.execute(freshCharge(revokedKey.token), noop);
    if (cached.decision !== 'executed') throw new Error(`denial setup: ${cached.decision}/${cached.code}`);
    await guard.keys.revoke(revokedKey.id);
    await interleaved(backend, guard, last, 50, () => freshCharge(revokedKey.token), 'denied/key_revoked');
    const denied = await interleaved(
      backend,
      guard,
      last,
      plan.beginOnly,
      () => freshCharge(revokedKey.token),
      'denied/key_revoked',
    );

    // 32 callers: warm the pools up to that concurrency, then bare → execute → bare.
    const warmTally = new Tally('executed/executed');
    await concurrent(CALLERS, plan.warmupMs, backend.serverProcess, async () => {
      warmTally.add(await guard.execute(freshCharge(token), noop));
    });
    const barePairs = async () => {
      await backend.bareRoundTrip();
      await backend.bareRoundTrip();
    };
    const bareBefore = await concurrent(CALLERS, plan.bareMs, backend.serverProcess, barePairs);
    const concurrentTally = new Tally('executed/executed');
    const trips0 = backend.roundTrips();
    const vendor0 = vendorCalls;
    const executed = await concurrent(CALLERS, plan.executeMs, backend.serverProcess, async () => {
      concurrentTally.add(await guard.execute(freshCharge(token), noop));
    });
    const concurrentTrips = backend.roundTrips() - trips0;
    const concurrentVendor = vendorCalls - vendor0;
    const bareAfter = await concurrent(CALLERS, plan.bareMs, backend.serverProcess, barePairs);
    const bare = pooled(bareBefore, bareAfter);
    const bareLatency = summarize(bare.samples);

    const rows: LatencyRow[] = [
      row(name, pair, single.bare, single.bare.p50Us, null),
      row(name, 'executed', single.guarded, single.bare.p50Us, SINGLE_TARGET_RATIO),
      row(name, 'replayed', replayed.guarded, replayed.bare.p50Us, null),
      row(name, 'denied key_revoked', denied.guarded, denied.bare.p50Us, null),
      row(name, `${pair} ×${CALLERS}`, bareLatency, bareLatency.p50Us, null),
      row(name, `executed ×${CALLERS}`, summarize(executed.samples), bareLatency.p50Us, null),
    ];

    const perExecute = single.roundTrips / plan.calls;
    const throughputRatio = bare.perSecond / executed.perSecond;
    const metrics: MetricRow[] = [
      metric(name, 'round trips / executed call', perExecute, 'round trips', `${backend.counter} Δ / calls`, {
        target: `≤ ${ROUND_TRIP_TARGET}`,
        meets: perExecute <= ROUND_TRIP_TARGET,
      }),
    ];
    if (backend.statements) {
      metrics.push(
        metric(
          name,
          'statements / executed call',
          single.statements / plan.calls,
          'statements',
          'store.stats.queries Δ / calls (BEGIN, COMMIT included)',
        ),
      );
    }
    metrics.push(
      metric(
        name,
        'round trips / replayed call',
        replayed.roundTrips / plan.beginOnly,
        'round trips',
        'begin only',
      ),
      metric(
        name,
        'round trips / denied call',
        denied.roundTrips / plan.beginOnly,
        'round trips',
        'begin only (key_revoked)',
      ),
      metric(
        name,
        'round trips / executed call ×32',
        concurrentTrips / executed.ops,
        'round trips',
        'under contention (retries count)',
      ),
      metric(name, 'single: begin p50', single.beginP50Us, 'µs', 'store.begin, timed inside execute'),
      metric(name, 'single: finish p50', single.finishP50Us, 'µs', 'store.finish, timed inside execute'),
      metric(name, 'single: rest of execute p50', single.restP50Us, 'µs', 'execute − begin − finish'),
      metric(name, `×${CALLERS}: ${pair} pairs/s`, bare.perSecond, 'calls/s', 'two phases around execute'),
      metric(name, `×${CALLERS}: execute calls/s`, executed.perSecond, 'calls/s', `${CALLERS} async callers`),
      metric(
        name,
        `×${CALLERS}: bare pairs/s ÷ execute/s`,
        throughputRatio,
        '×',
        'execute cost in bare pairs',
        {
          target: `≤ ${CONCURRENT_TARGET_RATIO}×`,
          meets: throughputRatio <= CONCURRENT_TARGET_RATIO,
        },
      ),
      metric(name, `×${CALLERS}: client CPU / execute`, executed.clientCpuUs, 'µs', 'this process'),
      metric(name, `×${CALLERS}: client CPU / bare pair`, bare.clientCpuUs, 'µs', 'this process'),
    );
    if (executed.serverCpuUs !== null && bare.serverCpuUs !== null) {
      metrics.push(
        metric(
          name,
          `×${CALLERS}: server CPU / execute`,
          executed.serverCpuUs,
          'µs',
          `${backend.serverProcess} processes, /proc`,
        ),
        metric(
          name,
          `×${CALLERS}: server CPU / bare pair`,
          bare.serverCpuUs,
          'µs',
          `${backend.serverProcess} processes, /proc`,
        ),
      );
    }

    const checks: Check[] = [
      single.tally.check(`${name}: measured single-client calls decided 'executed'`, plan.calls),
      {
        name: `${name}: vendor called once per executed call`,
        expected: plan.calls,
        actual: single.vendorCalls,
        ok: single.vendorCalls === plan.calls,
      },
      replayed.tally.check(`${name}: measured replay calls decided 'replayed'`, plan.beginOnly),
      {
        name: `${name}: vendor never called on replay`,
        expected: 0,
        actual: replayed.vendorCalls,
        ok: replayed.vendorCalls === 0,
      },
      denied.tally.check(`${name}: calls on the revoked key denied 'key_revoked'`, plan.beginOnly),
      {
        name: `${name}: vendor never called on a revoked key`,
        expected: 0,
        actual: denied.vendorCalls,
        ok: denied.vendorCalls === 0,
      },
      concurrentTally.check(`${name}: ${CALLERS}-caller calls decided 'executed'`, executed.ops),
      {
        name: `${name}: vendor called once per ${CALLERS}-caller call`,
        expected: executed.ops,
        actual: concurrentVendor,
        ok: concurrentVendor === executed.ops,
      },
    ];
    return { rows, metrics, checks };
  } finally {
    try {
      await backend.close();
    } finally {
      await guard.close();
    }
  }
}

export async function storeRoundTrips(): Promise<BenchResult> {
  const rows: LatencyRow[] = [];
  const metrics: MetricRow[] = [];
  const checks: Check[] = [];
  for (const plan of PLANS) {
    const result = await benchStore(plan);
    rows.push(...result.rows);
    metrics.push(...result.metrics);
    checks.push(...result.checks);
  }
  return {
    name: 'store-round-trips',
    title:
      'guard.execute on Redis and Postgres against two bare round trips on the same kind of connection ' +
      '(per call, µs; ratio = p50 / bare-pair p50; ×32 = 32 concurrent callers)',
    rows,
    metrics,
    checks,
  };
}
