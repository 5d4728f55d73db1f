import { createGuard, type Guard, type Store } from '@spendguard/core';
import type { BeginPlan, FinishInput } from '@spendguard/core/store-kit';
import { POLICIES } from './core-overhead.ts';
import {
  type Contender,
  chargeRequest,
  clearRedisPrefix,
  nodeIdempotencyRedis,
  type Outcome,
  postgresFloor,
  powertools,
  redisFloor,
  spendguard,
} from './peers.ts';
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
 * `guard.execute` on the shared stores (Redis, Postgres) against the floor of the job it does and
 * against its peers, all in one run (see peers.ts for each contender):
 *
 * - first calls (a fresh order: the function runs once, its result is stored) and replays (the
 *   same order again: the stored result, the function not run), one caller: each iteration makes
 *   one call of every contender, in an order that rotates, each timed on its own, so the host's
 *   noise falls on all of them alike; ratio = p50 / the floor's p50 on the same path;
 * - 32 concurrent callers in this process, first calls and replays: each contender in turn for a
 *   phase, the order run forward then backward and the two phases pooled (drift during the run
 *   affects all alike): p50, p99, calls/s, and the CPU each spends in this process and the server;
 * - round trips per call, counted where each contender talks to its store; spendguard's begin and
 *   finish timed inside `execute`; a denial (revoked key), a begin-only path;
 * - checks: every first call ran the function once, every replay returned the stored result
 *   without running it, for every contender.
 *
 * The goals (issue 17): Redis first-call p50 ≤ 2× the floor (SET NX + SET), 32-caller calls/s
 * ≥ Powertools'; Postgres first-call p50 ≤ 1.5× the floor (two autocommit writes); replays in 1
 * round trip and p50 ≤ 2× one bare round trip (GET; SELECT by primary key).
 */

const CALLERS = 32;
/** Round trips per call: an executed call begins and completes; a replay only begins. */
const FIRST_ROUND_TRIPS = 2;
const REPLAY_ROUND_TRIPS = 1;
const REPLAY_RATIO = 2;
/** spendguard's 32-caller first calls/s ÷ Powertools' (Redis). */
const THROUGHPUT_VS_POWERTOOLS = 1;
const REPLAY_ORDER = 'ord_replay';

type Path = 'first' | 'replay';

interface Backend {
  name: 'redis' | 'postgres';
  /** spendguard's store, and its own count of waits for the server so far. */
  store: Store;
  roundTrips(): number;
  /** Statements (Postgres) sent so far, when the store counts them separately from round trips. */
  statements?(): number;
  /** Commands the Redis store's audit sealer sent so far: off the calls' path, not in roundTrips. */
  sealCommands?(): number;
  /** What the store's round-trip counter is (for the table's `how` column). */
  counter: string;
  floor: Contender;
  /** What the floor does on each path, for row labels. */
  floorDoes: Record<Path, string>;
  peers: Contender[];
  /** `comm` of the server's processes, to read their CPU from /proc. */
  serverProcess: string;
  /** Goal for spendguard's first-call p50 ÷ the floor's. */
  firstRatio: number;
  close(): Promise<void>;
}

interface Plan {
  name: 'redis' | 'postgres';
  /** Single-caller iterations (one call of every contender each): warm-up, then measured. */
  warmup: number;
  calls: number;
  replayWarmup: number;
  replays: number;
  /** Denials measured (a begin-only path, spendguard only). */
  denials: number;
  /** 32 callers: warm-up per contender and path, then each measured phase (two per contender). */
  warmupMs: number;
  phaseMs: number;
  open: () => Promise<Backend>;
}

const PLANS: Plan[] = [
  {
    name: 'redis',
    warmup: 500,
    calls: 2_000,
    replayWarmup: 100,
    replays: 1_000,
    denials: 300,
    warmupMs: 400,
    phaseMs: 1_000,
    open: openRedis,
  },
  {
    name: 'postgres',
    warmup: 300,
    calls: 1_500,
    replayWarmup: 100,
    replays: 600,
    denials: 300,
    warmupMs: 500,
    phaseMs: 1_500,
    open: openPostgres,
  },
];

async function openRedis(): Promise<Backend> {
  const store = new RedisStore({ url: REDIS_URL, prefix: benchPrefix('rt') });
  const prefix = benchPrefix('peers');
  const opened: Contender[] = [];
  try {
    opened.push(redisFloor(REDIS_URL, `${prefix}floor:`));
    opened.push(await powertools(REDIS_URL, `${prefix}powertools`));
    opened.push(await nodeIdempotencyRedis(REDIS_URL, `${prefix}node-idempotency`));
  } catch (error) {
    await closeAll(opened);
    await store.close();
    throw error;
  }
  const [floor, ...peers] = opened as [Contender, ...Contender[]];
  return {
    name: 'redis',
    store,
    // The calls' own commands; the sealer's (batches of audit rows, off the path) are a metric.
    roundTrips: () => store.stats.commands - (store.stats.sealCommands ?? 0),
    sealCommands: () => store.stats.sealCommands ?? 0,
    counter: 'store.stats.commands − sealCommands',
    floor,
    floorDoes: { first: 'SET NX + SET', replay: 'GET' },
    peers,
    serverProcess: 'redis-server',
    firstRatio: 2,
    close: async () => {
      const janitor = bareRedis(REDIS_URL);
      try {
        await store.clear();
        await clearRedisPrefix(janitor, prefix);
      } finally {
        await janitor.quit();
        await closeAll(opened);
      }
    },
  };
}

async function openPostgres(): Promise<Backend> {
  const schema = benchSchema('rt');
  const floorSchema = benchSchema('floor');
  const store = new PostgresStore({ url: POSTGRES_URL, schema });
  // A Pool of the store's default size (10) for the floor; each statement checks a client out
  // and back, as each store step does.
  const pool = barePool(POSTGRES_URL);
  let floor: Contender;
  let audited: Contender;
  try {
    await store.migrate();
    floor = await postgresFloor(pool, floorSchema);
    audited = await postgresFloor(pool, floorSchema, { audited: true });
  } catch (error) {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await pool.end();
    throw error;
  }
  return {
    name: 'postgres',
    store,
    roundTrips: () => store.stats.roundTrips,
    statements: () => store.stats.queries,
    counter: 'store.stats.roundTrips',
    floor,
    floorDoes: { first: 'INSERT + UPDATE', replay: 'SELECT by key' },
    peers: [audited],
    serverProcess: 'postgres',
    firstRatio: 1.5,
    close: async () => {
      try {
        await audited.close();
        await floor.close();
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await pool.end();
      }
    },
  };
}

async function closeAll(contenders: Contender[]): Promise<void> {
  await Promise.allSettled(contenders.map((c) => c.close()));
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

/** Outcomes counted against the one expected. */
class Tally {
  matched = 0;
  readonly unexpected = new Map<string, number>();
  readonly expected: Outcome;
  constructor(expected: Outcome) {
    this.expected = expected;
  }

  add(outcome: Outcome): void {
    if (outcome === this.expected) this.matched++;
    else this.unexpected.set(outcome, (this.unexpected.get(outcome) ?? 0) + 1);
  }

  merge(other: Tally): void {
    this.matched += other.matched;
    for (const [label, n] of other.unexpected)
      this.unexpected.set(label, (this.unexpected.get(label) ?? 0) + n);
  }

  get total(): number {
    let n = this.matched;
    for (const count of this.unexpected.values()) n += count;
    return n;
  }

  detail(): string {
    return [...this.unexpected].map(([label, n]) => `${label} × ${n}`).join(', ');
  }
}

/** What one contender did over a phase: its timings, outcomes, function runs and round trips. */
interface Series {
  samples: Float64Array;
  tally: Tally;
  fnCalls: number;
  roundTrips: number;
}

let orderSeq = 0;
const freshOrder = () => `ord_${++orderSeq}`;

interface Single {
  byContender: Map<Contender, Series>;
  /** spendguard only: p50 of begin, finish, and the rest of execute; statements sent. */
  beginP50Us: number;
  finishP50Us: number;
  restP50Us: number;
  statements: number;
}

/** One contender's part in a single-caller loop: what it calls, and the outcome expected. */
interface Entry {
  c: Contender;
  call: () => Promise<Outcome>;
  expected: Outcome;
}

/** Each contender on `path`, expecting `ran` (first calls) or `stored` (replays). */
function entries(contenders: Contender[], path: Path): Entry[] {
  return contenders.map((c) =>
    path === 'first'
      ? { c, call: () => c.first(freshOrder()), expected: 'ran' }
      : { c, call: () => c.replay(REPLAY_ORDER), expected: 'stored' },
  );
}

/**
 * `iterations` rounds of one call of each entry, the starting entry rotating each round; each
 * call timed on its own. `sg`'s calls are also split into begin, finish and the rest.
 */
async function single(
  backend: Backend,
  list: Entry[],
  sg: Contender,
  last: StepTimes,
  iterations: number,
): Promise<Single> {
  const n = list.length;
  const samples = list.map(() => new Float64Array(iterations));
  const tallies = list.map((e) => new Tally(e.expected));
  const fn0 = list.map((e) => e.c.fnCalls);
  const trips0 = list.map((e) => e.c.roundTrips());
  const statements0 = backend.statements?.() ?? 0;
  const begins = new Float64Array(iterations);
  const finishes = new Float64Array(iterations);
  const rests = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    for (let k = 0; k < n; k++) {
      const j = (i + k) % n;
      const entry = list[j] as Entry;
      last.beginNs = 0;
      last.finishNs = 0;
      const t0 = process.hrtime.bigint();
      const outcome = await entry.call();
      const ns = Number(process.hrtime.bigint() - t0);
      (samples[j] as Float64Array)[i] = ns;
      (tallies[j] as Tally).add(outcome);
      if (entry.c === sg) {
        begins[i] = last.beginNs;
        finishes[i] = last.finishNs;
        rests[i] = ns - last.beginNs - last.finishNs;
      }
    }
  }
  const byContender = new Map<Contender, Series>();
  list.forEach((e, j) => {
    byContender.set(e.c, {
      samples: samples[j] as Float64Array,
      tally: tallies[j] as Tally,
      fnCalls: e.c.fnCalls - (fn0[j] ?? 0),
      roundTrips: e.c.roundTrips() - (trips0[j] ?? 0),
    });
  });
  return {
    byContender,
    beginP50Us: summarize(begins).p50Us,
    finishP50Us: summarize(finishes).p50Us,
    restP50Us: summarize(rests).p50Us,
    statements: (backend.statements?.() ?? 0) - statements0,
  };
}

interface Concurrent extends Series {
  ops: number;
  wallMs: number;
  /** µs of this process's CPU, and of the server's, per call; null when /proc cannot tell. */
  clientCpuUs: number;
  serverCpuUs: number | null;
}

/** `callers` loops calling `c` on `path` back to back until `durationMs` is up. */
async function concurrent(
  c: Contender,
  path: Path,
  callers: number,
  durationMs: number,
  serverProcess: string,
): Promise<Concurrent> {
  const samples: number[] = [];
  const tally = new Tally(path === 'first' ? 'ran' : 'stored');
  const fn0 = c.fnCalls;
  const trips0 = c.roundTrips();
  const cpu0 = process.cpuUsage();
  const server0 = serverCpu(serverProcess);
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < deadline) {
        const t0 = process.hrtime.bigint();
        const outcome = await (path === 'first' ? c.first(freshOrder()) : c.replay(REPLAY_ORDER));
        samples.push(Number(process.hrtime.bigint() - t0));
        tally.add(outcome);
      }
    }),
  );
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const server = cpuSince(serverProcess, server0);
  const ops = samples.length;
  return {
    samples: Float64Array.from(samples),
    tally,
    fnCalls: c.fnCalls - fn0,
    roundTrips: c.roundTrips() - trips0,
    ops,
    wallMs,
    clientCpuUs: (cpu.user + cpu.system) / ops,
    serverCpuUs: server === null ? null : server / ops,
  };
}

/** Two phases of one contender, pooled. */
function pooled(a: Concurrent, b: Concurrent): Concurrent {
  const ops = a.ops + b.ops;
  const samples = new Float64Array(ops);
  samples.set(a.samples);
  samples.set(b.samples, a.ops);
  const tally = new Tally(a.tally.expected);
  tally.merge(a.tally);
  tally.merge(b.tally);
  return {
    samples,
    tally,
    fnCalls: a.fnCalls + b.fnCalls,
    roundTrips: a.roundTrips + b.roundTrips,
    ops,
    wallMs: a.wallMs + b.wallMs,
    clientCpuUs: (a.clientCpuUs * a.ops + b.clientCpuUs * b.ops) / ops,
    serverCpuUs:
      a.serverCpuUs === null || b.serverCpuUs === null
        ? null
        : (a.serverCpuUs * a.ops + b.serverCpuUs * b.ops) / ops,
  };
}

const perSecond = (c: Concurrent) => c.ops / (c.wallMs / 1000);

/** Every contender under 32 callers on `path`: a warm-up each, then forward and backward phases. */
async function concurrentRounds(
  backend: Backend,
  contenders: Contender[],
  path: Path,
  plan: Plan,
): Promise<Map<Contender, Concurrent>> {
  for (const c of contenders) await concurrent(c, path, CALLERS, plan.warmupMs, backend.serverProcess);
  const forward: Concurrent[] = [];
  for (const c of contenders)
    forward.push(await concurrent(c, path, CALLERS, plan.phaseMs, backend.serverProcess));
  const backward: Concurrent[] = [];
  for (const c of [...contenders].reverse()) {
    backward.unshift(await concurrent(c, path, CALLERS, plan.phaseMs, backend.serverProcess));
  }
  const result = new Map<Contender, Concurrent>();
  contenders.forEach((c, j) => {
    result.set(c, pooled(forward[j] as Concurrent, backward[j] as Concurrent));
  });
  return result;
}

function row(
  store: string,
  path: string,
  series: Summary,
  floorP50Us: number,
  targetRatio: number | null,
): LatencyRow {
  const ratio = series.p50Us / floorP50Us;
  return {
    store,
    path,
    ...series,
    bareP50Us: floorP50Us,
    overheadP50Us: series.p50Us - floorP50Us,
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
  const guard: Guard = createGuard({ policies: POLICIES, store });
  const name = plan.name;
  try {
    const { token } = await guard.keys.issueRoot({ policy: 'billing', name: 'bench' });
    const sg = spendguard(guard, token, backend.roundTrips);
    // The head first: reading it links what is pending, which is not the run's cost.
    const rows0 = (await backend.store.auditHead())?.seq ?? 0;
    const seals0 = backend.sealCommands?.() ?? 0;
    const { floor, peers } = backend;
    const contenders = [floor, ...peers, sg];
    const label = (c: Contender, path: Path) =>
      c === floor ? `floor ${path} (${backend.floorDoes[path]})` : `${c.name} ${path}`;

    // Warm-up: scripts cached on the server, key and token cached by the guard, JIT, pools full.
    await single(backend, entries(contenders, 'first'), sg, last, plan.warmup);
    const first = await single(backend, entries(contenders, 'first'), sg, last, plan.calls);

    // Replays: each contender stores the one order, then repeats it.
    for (const c of contenders) {
      const outcome = await c.first(REPLAY_ORDER);
      if (outcome !== 'ran') throw new Error(`replay setup: ${c.name}'s first call gave ${outcome}`);
    }
    await single(backend, entries(contenders, 'replay'), sg, last, plan.replayWarmup);
    const replay = await single(backend, entries(contenders, 'replay'), sg, last, plan.replays);

    // A denial (begin only): a key revoked after the guard cached it, alternating with floor replays.
    const revokedKey = await guard.keys.issueRoot({ policy: 'billing', name: 'bench-revoked' });
    const cached = await guard.execute(chargeRequest(revokedKey.token, freshOrder()), async () => ({}));
    if (cached.decision !== 'executed') throw new Error(`denial setup: ${cached.decision}/${cached.code}`);
    await guard.keys.revoke(revokedKey.id);
    const denied = spendguard(guard, revokedKey.token, backend.roundTrips);
    const denials: Entry[] = [
      ...entries([floor], 'replay'),
      { c: denied, call: () => denied.first(freshOrder()), expected: 'denied/key_revoked' },
    ];
    await single(backend, denials, denied, last, 50);
    const denial = await single(backend, denials, denied, last, plan.denials);

    // 32 callers, first calls then replays.
    const firstX = await concurrentRounds(backend, contenders, 'first', plan);
    const replayX = await concurrentRounds(backend, contenders, 'replay', plan);
    const seals = (backend.sealCommands?.() ?? 0) - seals0;
    const auditRows = ((await backend.store.auditHead())?.seq ?? 0) - rows0;

    const get = <T>(map: Map<Contender, T>, c: Contender) => map.get(c) as T;
    const summaryOf = (s: Series) => summarize(s.samples);
    const floorFirst = summaryOf(get(first.byContender, floor));
    const floorReplay = summaryOf(get(replay.byContender, floor));
    const floorFirstX = summarize(get(firstX, floor).samples);
    const floorReplayX = summarize(get(replayX, floor).samples);

    const rows: LatencyRow[] = [];
    for (const c of contenders) {
      const target = c === sg ? backend.firstRatio : null;
      rows.push(row(name, label(c, 'first'), summaryOf(get(first.byContender, c)), floorFirst.p50Us, target));
    }
    for (const c of contenders) {
      const target = c === sg ? REPLAY_RATIO : null;
      rows.push(
        row(name, label(c, 'replay'), summaryOf(get(replay.byContender, c)), floorReplay.p50Us, target),
      );
    }
    // Against the floor's replays timed alongside: a denial, like a replay, only begins.
    const floorBesideDenial = summaryOf(get(denial.byContender, floor));
    rows.push(
      row(
        name,
        'spendguard denied key_revoked',
        summaryOf(get(denial.byContender, denied)),
        floorBesideDenial.p50Us,
        null,
      ),
    );
    for (const c of contenders) {
      rows.push(
        row(name, `${label(c, 'first')} ×${CALLERS}`, summaryOf(get(firstX, c)), floorFirstX.p50Us, null),
      );
    }
    for (const c of contenders) {
      rows.push(
        row(name, `${label(c, 'replay')} ×${CALLERS}`, summaryOf(get(replayX, c)), floorReplayX.p50Us, null),
      );
    }

    const metrics: MetricRow[] = [];
    for (const c of contenders) {
      const perFirst = get(first.byContender, c).roundTrips / plan.calls;
      metrics.push(
        metric(
          name,
          `round trips / first call: ${c.name}`,
          perFirst,
          'round trips',
          c === sg ? `${backend.counter} Δ / calls` : counterNote(c, floor),
          c === sg ? { target: `≤ ${FIRST_ROUND_TRIPS}`, meets: perFirst <= FIRST_ROUND_TRIPS } : undefined,
        ),
      );
    }
    if (backend.statements) {
      metrics.push(
        metric(
          name,
          'statements / first call: spendguard',
          first.statements / plan.calls,
          'statements',
          'store.stats.queries Δ / calls (BEGIN, COMMIT included)',
        ),
      );
    }
    for (const c of contenders) {
      const perReplay = get(replay.byContender, c).roundTrips / plan.replays;
      metrics.push(
        metric(
          name,
          `round trips / replay: ${c.name}`,
          perReplay,
          'round trips',
          c === sg ? `${backend.counter} Δ / calls` : counterNote(c, floor),
          c === sg
            ? { target: `≤ ${REPLAY_ROUND_TRIPS}`, meets: perReplay <= REPLAY_ROUND_TRIPS }
            : undefined,
        ),
      );
    }
    if (backend.sealCommands) {
      metrics.push(
        metric(
          name,
          'sealer commands / audit row: spendguard',
          seals / auditRows,
          'commands',
          `store.stats.sealCommands Δ ÷ ${auditRows} rows appended in the run (linked in batches, off the path)`,
        ),
      );
    }
    metrics.push(
      metric(
        name,
        'round trips / denied call: spendguard',
        get(denial.byContender, denied).roundTrips / plan.denials,
        'round trips',
        'begin only (key_revoked)',
      ),
      metric(
        name,
        `round trips / first call ×${CALLERS}: spendguard`,
        get(firstX, sg).roundTrips / get(firstX, sg).ops,
        'round trips',
        'under contention (retries count)',
      ),
      metric(
        name,
        'spendguard first: begin p50',
        first.beginP50Us,
        'µs',
        'store.begin, timed inside execute',
      ),
      metric(
        name,
        'spendguard first: finish p50',
        first.finishP50Us,
        'µs',
        'store.finish, timed inside execute',
      ),
      metric(
        name,
        'spendguard first: rest of execute p50',
        first.restP50Us,
        'µs',
        'execute − begin − finish',
      ),
    );
    for (const peer of peers) {
      for (const path of ['first', 'replay'] as const) {
        const series = path === 'first' ? first : replay;
        metrics.push(
          metric(
            name,
            `p50 ${path === 'first' ? 'first call' : 'replay'}: spendguard ÷ ${peer.name}`,
            summaryOf(get(series.byContender, sg)).p50Us / summaryOf(get(series.byContender, peer)).p50Us,
            '×',
            '1 caller',
          ),
        );
      }
    }
    for (const path of ['first', 'replay'] as const) {
      const x = path === 'first' ? firstX : replayX;
      for (const c of contenders) {
        metrics.push(
          metric(
            name,
            `×${CALLERS} ${path}: ${c.name} calls/s`,
            perSecond(get(x, c)),
            'calls/s',
            'two phases pooled',
          ),
        );
      }
      const sgRate = perSecond(get(x, sg));
      metrics.push(
        metric(
          name,
          `×${CALLERS} ${path}: spendguard ÷ floor calls/s`,
          sgRate / perSecond(get(x, floor)),
          '×',
          'share of the floor it reaches',
        ),
      );
      for (const peer of peers) {
        const ratio = sgRate / perSecond(get(x, peer));
        const goal =
          peer.name === 'powertools' && path === 'first'
            ? { target: `≥ ${THROUGHPUT_VS_POWERTOOLS}×`, meets: ratio >= THROUGHPUT_VS_POWERTOOLS }
            : undefined;
        metrics.push(
          metric(name, `×${CALLERS} ${path}: spendguard ÷ ${peer.name} calls/s`, ratio, '×', '', goal),
        );
      }
    }
    for (const c of contenders) {
      const x = get(firstX, c);
      metrics.push(
        metric(name, `×${CALLERS} first: client CPU / call: ${c.name}`, x.clientCpuUs, 'µs', 'this process'),
      );
    }
    for (const c of contenders) {
      const server = get(firstX, c).serverCpuUs;
      if (server === null) continue;
      metrics.push(
        metric(
          name,
          `×${CALLERS} first: server CPU / call: ${c.name}`,
          server,
          'µs',
          `${backend.serverProcess} processes, /proc (other clients count too)`,
        ),
      );
    }

    const checks: Check[] = [];
    for (const c of contenders) {
      const runs = [get(first.byContender, c), get(firstX, c)];
      const tally = new Tally('ran');
      for (const s of runs) tally.merge(s.tally);
      const fnCalls = runs.reduce((n, s) => n + s.fnCalls, 0);
      const detail = [tally.detail(), fnCalls === tally.total ? '' : `function ran ${fnCalls} times`]
        .filter(Boolean)
        .join('; ');
      checks.push({
        name: `${name} ${c.name}: each first call (1 and ${CALLERS} callers) ran the function once`,
        expected: tally.total,
        actual: tally.matched,
        ok: tally.matched === tally.total && fnCalls === tally.total,
        ...(detail && { detail }),
      });
    }
    for (const c of contenders) {
      const runs = [get(replay.byContender, c), get(replayX, c)];
      const tally = new Tally('stored');
      for (const s of runs) tally.merge(s.tally);
      const fnCalls = runs.reduce((n, s) => n + s.fnCalls, 0);
      const detail = [tally.detail(), fnCalls === 0 ? '' : `function ran ${fnCalls} times`]
        .filter(Boolean)
        .join('; ');
      checks.push({
        name: `${name} ${c.name}: each replay returned the stored result, the function not run`,
        expected: tally.total,
        actual: tally.matched,
        ok: tally.matched === tally.total && fnCalls === 0,
        ...(detail && { detail }),
      });
    }
    const deniedSeries = get(denial.byContender, denied);
    checks.push({
      name: `${name} spendguard: calls on the revoked key denied 'key_revoked', the function not run`,
      expected: plan.denials,
      actual: deniedSeries.tally.matched,
      ok: deniedSeries.tally.matched === plan.denials && deniedSeries.fnCalls === 0,
      ...(deniedSeries.tally.detail() && { detail: deniedSeries.tally.detail() }),
    });
    return { rows, metrics, checks };
  } finally {
    try {
      await backend.close();
    } finally {
      await guard.close();
    }
  }
}

function counterNote(c: Contender, floor: Contender): string {
  if (c === floor || c.name === 'audited floor') return 'its own commands';
  return c.name === 'powertools' ? 'its CacheClient, wrapped' : 'its StorageAdapter, wrapped';
}

export async function storeRoundTrips(): Promise<BenchResult> {
  const rows: LatencyRow[] = [];
  const metrics: MetricRow[] = [];
  const checks: Check[] = [];
  // A library that warns on every call (Powertools without a context does) is measuring its
  // logging: count the warnings, print the first few.
  const warn = console.warn;
  let warnings = 0;
  console.warn = (...args: unknown[]) => {
    warnings++;
    if (warnings <= 3) warn(...args);
  };
  try {
    for (const plan of PLANS) {
      const result = await benchStore(plan);
      rows.push(...result.rows);
      metrics.push(...result.metrics);
      checks.push(...result.checks);
    }
  } finally {
    console.warn = warn;
  }
  checks.push({ name: 'no contender printed a warning', expected: 0, actual: warnings, ok: warnings === 0 });
  return {
    name: 'store-round-trips',
    title:
      'spendguard on Redis and Postgres against the floor (the least a store can do: claim, then store; ' +
      'replay: one read) and its peers, one run (per call, µs; ratio = p50 / the floor p50 on the same ' +
      `path; ×${CALLERS} = ${CALLERS} concurrent callers)`,
    rows,
    metrics,
    checks,
  };
}
