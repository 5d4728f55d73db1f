import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createGuard,
  type ExecuteRequest,
  type Guard,
  MemoryStore,
  type PolicyDocument,
  SqliteStore,
  type Store,
} from '@spendguard/core';
import { GuardOnlyStore } from './guard-only-store.ts';
import { type Contender, nodeIdempotencyMemory, type Outcome } from './peers.ts';
import type { BenchResult, Check, LatencyRow, MetricRow } from './report.ts';
import { type Summary, summarize } from './stats.ts';

/**
 * Per-call overhead of `guard.execute` around a vendor call that does nothing, so all that is
 * timed is the guard: authenticate, policy check, begin (reserve + lease), complete (settle +
 * audit). Each guarded call is timed right after one bare call of the same function, so the
 * ratio compares like with like (same process, heap and JIT state).
 *
 * On the memory store, a peer does the same job in the same loop: @node-idempotency/core on its
 * memory adapter (see peers.ts), one call of it beside each guarded call (which of the two goes
 * first alternates), first calls and replays. Goal (issue 17): spendguard's p50 ≤ the peer's.
 * The same peer sits beside `guard-only`: the guard over a store that keeps only a Map of
 * results, which times the guard's own JavaScript (no goal: it is a diagnosis, not a store).
 */

type Charge = { id: string; object: string };

/** Counts calls so we can prove replays never reach the vendor. */
let vendorCalls = 0;
const noop = async (): Promise<Charge> => {
  vendorCalls++;
  return { id: 'ch_1', object: 'charge' };
};

/** Also the workload of the Redis and Postgres benches, so their numbers compare with these. */
export const POLICIES: PolicyDocument = {
  policies: {
    billing: {
      stripe: {
        allow: [
          {
            'POST /v1/charges': {
              amount: { max: 100_000 },
              currency: { in: ['usd', 'eur'] },
              customer: { required: true },
              'metadata.order_id': { prefix: 'ord_' },
            },
          },
        ],
      },
      // Generous, so nothing is denied, but present so the hour/day windows are really counted.
      caps: { perCall: 1_000, perHour: 1_000_000_000, perDay: 1_000_000_000 },
    },
  },
};

interface StorePlan {
  name: string;
  targetP50Us: number | null;
  warmup: number;
  calls: number;
  open: () => { store: Store; cleanup: () => void };
  /** A peer timed in the same loop, first calls and replays. */
  peer?: () => Contender;
  /** Whether spendguard ≤ the peer is a goal here (default: yes). */
  peerGoal?: boolean;
}

const PLANS: StorePlan[] = [
  {
    name: 'memory',
    targetP50Us: 20,
    // The first ~5k calls run at ~1.7× steady state while V8 tiers the guard up; 2k is not enough.
    warmup: 10_000,
    calls: 20_000,
    open: () => ({ store: new MemoryStore(), cleanup: () => {} }),
    peer: nodeIdempotencyMemory,
  },
  {
    // The guard's own JavaScript: the store keeps only a Map of results (see guard-only-store.ts).
    name: 'guard-only',
    targetP50Us: null,
    peerGoal: false,
    warmup: 10_000,
    calls: 20_000,
    open: () => ({ store: new GuardOnlyStore(), cleanup: () => {} }),
    peer: nodeIdempotencyMemory,
  },
  {
    name: 'sqlite',
    targetP50Us: 150,
    warmup: 2_000,
    calls: 5_000,
    open: () => {
      // A fresh file per run: an old database would make begin slower (bigger indexes) over time.
      const dir = mkdtempSync(join(tmpdir(), 'spendguard-bench-'));
      return {
        store: new SqliteStore({ file: join(dir, 'bench.db') }),
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
];

const BARE_CALLS = 20_000;
const REPLAY_WARMUP = 500;

let orderSeq = 0;

/**
 * A charge with fresh params: a new checkpoint, so a real begin → call → complete. Processes
 * that share a store pass their own `orderPrefix` so their order ids never meet.
 */
export function freshCharge(key: string, orderPrefix = 'ord_'): ExecuteRequest {
  orderSeq++;
  return {
    key,
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: {
      amount: 500,
      currency: 'usd',
      customer: 'cus_bench',
      metadata: { order_id: `${orderPrefix}${orderSeq}` },
    },
    cost: { amount: 5, currency: 'usd' },
  };
}

/** The same charge every time: after the first, each call replays the stored result. */
export function repeatedCharge(key: string): ExecuteRequest {
  return {
    key,
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: 500, currency: 'usd', customer: 'cus_bench', metadata: { order_id: 'ord_replay' } },
    cost: { amount: 5, currency: 'usd' },
  };
}

type Expected = 'executed' | 'replayed';

interface Series {
  guarded: Summary;
  bare: Summary;
  matched: number;
  /** Decisions other than the expected one, by `decision/code`. */
  unexpected: Map<string, number>;
  /** The peer's calls in the same loop, when there is one. */
  peer?: PeerSeries;
}

interface PeerSeries {
  summary: Summary;
  matched: number;
  unexpected: Map<string, number>;
  fnCalls: number;
}

/** A peer's call beside each guarded call, and the outcome it should give (`ran`, `stored`). */
interface PeerCall {
  contender: Contender;
  call: () => Promise<Outcome>;
  expected: Outcome;
}

const count = (map: Map<string, number>, label: string) => map.set(label, (map.get(label) ?? 0) + 1);

/**
 * Time `calls` guarded calls, each after one bare call, and count how each was decided; with a
 * peer, one call of it beside each guarded call (before it on odd calls, after on even ones).
 */
async function measure(
  guard: Guard,
  calls: number,
  request: () => ExecuteRequest,
  expected: Expected,
  peer?: PeerCall,
): Promise<Series> {
  const bare = new Float64Array(calls);
  const guarded = new Float64Array(calls);
  const peerSamples = new Float64Array(peer ? calls : 0);
  const unexpected = new Map<string, number>();
  const peerUnexpected = new Map<string, number>();
  let matched = 0;
  let peerMatched = 0;
  const peerFn0 = peer?.contender.fnCalls ?? 0;
  const runPeer = async (i: number) => {
    if (!peer) return;
    const t0 = process.hrtime.bigint();
    const outcome = await peer.call();
    peerSamples[i] = Number(process.hrtime.bigint() - t0);
    if (outcome === peer.expected) peerMatched++;
    else count(peerUnexpected, outcome);
  };
  for (let i = 0; i < calls; i++) {
    if (i % 2 === 1) await runPeer(i);
    // Built outside the timed span: composing the request is the caller's cost, not the guard's.
    const req = request();
    const t0 = process.hrtime.bigint();
    await noop();
    const t1 = process.hrtime.bigint();
    const decision = await guard.execute(req, noop);
    const t2 = process.hrtime.bigint();
    bare[i] = Number(t1 - t0);
    guarded[i] = Number(t2 - t1);
    // `executed_not_recorded` would mean the store failed to settle: not the path we mean to time.
    if (decision.decision === expected && decision.code === expected) matched++;
    else count(unexpected, `${decision.decision}/${decision.code}`);
    if (i % 2 === 0) await runPeer(i);
  }
  return {
    guarded: summarize(guarded),
    bare: summarize(bare),
    matched,
    unexpected,
    ...(peer && {
      peer: {
        summary: summarize(peerSamples),
        matched: peerMatched,
        unexpected: peerUnexpected,
        fnCalls: peer.contender.fnCalls - peerFn0,
      },
    }),
  };
}

/** The bare call alone, for reference: how much interleaving with the guard disturbs it. */
async function measureBare(calls: number): Promise<Summary> {
  const samples = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    await noop();
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  return summarize(samples);
}

function row(
  store: string,
  path: string,
  series: Summary,
  bareP50Us: number,
  target: number | null,
): LatencyRow {
  return {
    store,
    path,
    ...series,
    bareP50Us,
    overheadP50Us: series.p50Us - bareP50Us,
    ratio: series.p50Us / bareP50Us,
    targetP50Us: target,
    meetsTarget: target === null ? null : series.p50Us <= target,
  };
}

function check(name: string, expected: number, series: Series): Check {
  const detail = [...series.unexpected].map(([label, n]) => `${label} × ${n}`).join(', ');
  return {
    name,
    expected,
    actual: series.matched,
    ok: series.matched === expected,
    ...(detail && { detail }),
  };
}

async function benchStore(
  plan: StorePlan,
): Promise<{ rows: LatencyRow[]; metrics: MetricRow[]; checks: Check[] }> {
  const { store, cleanup } = plan.open();
  const guard = createGuard({ policies: POLICIES, store });
  const peer = plan.peer?.();
  let peerOrder = 0;
  const peerFirst: PeerCall | undefined = peer && {
    contender: peer,
    call: () => peer.first(`ord_peer_${++peerOrder}`),
    expected: 'ran',
  };
  const peerReplay: PeerCall | undefined = peer && {
    contender: peer,
    call: () => peer.replay('ord_replay'),
    expected: 'stored',
  };
  try {
    const { token } = await guard.keys.issueRoot({ policy: 'billing', name: 'bench' });

    await measure(guard, plan.warmup, () => freshCharge(token), 'executed', peerFirst);
    const vendorBefore = vendorCalls;
    const executed = await measure(guard, plan.calls, () => freshCharge(token), 'executed', peerFirst);
    const executedVendorCalls = vendorCalls - vendorBefore - plan.calls; // minus the bare calls

    const first = await guard.execute(repeatedCharge(token), noop);
    if (first.decision !== 'executed') {
      throw new Error(`replay setup: first call was ${first.decision}/${first.code}: ${first.message}`);
    }
    if (peer) {
      const outcome = await peer.first('ord_replay');
      if (outcome !== 'ran') throw new Error(`replay setup: ${peer.name}'s first call gave ${outcome}`);
    }
    await measure(guard, REPLAY_WARMUP, () => repeatedCharge(token), 'replayed', peerReplay);
    const replayBefore = vendorCalls;
    const replayed = await measure(guard, plan.calls, () => repeatedCharge(token), 'replayed', peerReplay);
    const replayVendorCalls = vendorCalls - replayBefore - plan.calls;

    const rows = [
      row(plan.name, 'executed', executed.guarded, executed.bare.p50Us, plan.targetP50Us),
      row(plan.name, 'replayed', replayed.guarded, replayed.bare.p50Us, null),
    ];
    const metrics: MetricRow[] = [];
    const checks: Check[] = [
      check(`${plan.name}: measured executed calls decided 'executed'`, plan.calls, executed),
      {
        name: `${plan.name}: vendor called once per executed call`,
        expected: plan.calls,
        actual: executedVendorCalls,
        ok: executedVendorCalls === plan.calls,
      },
      check(`${plan.name}: measured replay calls decided 'replayed'`, plan.calls, replayed),
      {
        name: `${plan.name}: vendor never called on replay`,
        expected: 0,
        actual: replayVendorCalls,
        ok: replayVendorCalls === 0,
      },
    ];
    if (peer && executed.peer && replayed.peer) {
      rows.push(
        row(plan.name, `${peer.name} first`, executed.peer.summary, executed.bare.p50Us, null),
        row(plan.name, `${peer.name} replay`, replayed.peer.summary, replayed.bare.p50Us, null),
      );
      for (const [path, series] of [
        ['first call', executed],
        ['replay', replayed],
      ] as const) {
        const ratio = series.guarded.p50Us / (series.peer as PeerSeries).summary.p50Us;
        metrics.push({
          store: plan.name,
          metric: `p50 ${path}: spendguard ÷ ${peer.name}`,
          value: ratio,
          unit: '×',
          target: plan.peerGoal === false ? null : '≤ 1×',
          meetsTarget: plan.peerGoal === false ? null : ratio <= 1,
          note: 'same loop, one call of each in turn',
        });
      }
      checks.push(
        peerCheck(
          `${plan.name}: ${peer.name}: each first call ran the function once`,
          plan.calls,
          executed.peer,
          plan.calls,
        ),
        peerCheck(
          `${plan.name}: ${peer.name}: each replay returned the stored result, the function not run`,
          plan.calls,
          replayed.peer,
          0,
        ),
      );
    }
    return { rows, metrics, checks };
  } finally {
    try {
      await guard.close();
    } finally {
      await peer?.close();
      cleanup();
    }
  }
}

function peerCheck(name: string, expected: number, series: PeerSeries, fnCalls: number): Check {
  const detail = [
    ...[...series.unexpected].map(([label, n]) => `${label} × ${n}`),
    ...(series.fnCalls === fnCalls ? [] : [`function ran ${series.fnCalls} times`]),
  ].join(', ');
  return {
    name,
    expected,
    actual: series.matched,
    ok: series.matched === expected && series.fnCalls === fnCalls,
    ...(detail && { detail }),
  };
}

export async function coreOverhead(): Promise<BenchResult> {
  await measureBare(BARE_CALLS); // warm-up
  const bare = await measureBare(BARE_CALLS);
  const rows: LatencyRow[] = [row('none', 'bare', bare, bare.p50Us, null)];
  const metrics: MetricRow[] = [];
  const checks: Check[] = [];
  for (const plan of PLANS) {
    const result = await benchStore(plan);
    rows.push(...result.rows);
    metrics.push(...result.metrics);
    checks.push(...result.checks);
  }
  return {
    name: 'core-overhead',
    title:
      'guard.execute overhead around a no-op vendor call, and @node-idempotency on its memory adapter ' +
      'in the same loop (per call, µs; ratio = p50 / bare p50)',
    rows,
    metrics,
    checks,
  };
}
