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
import type { BenchResult, Check, LatencyRow } from './report.ts';
import { type Summary, summarize } from './stats.ts';

/**
 * Per-call overhead of `guard.execute` around a vendor call that does nothing, so all that is
 * timed is the guard: authenticate, policy check, begin (reserve + lease), complete (settle +
 * audit). Each guarded call is timed right after one bare call of the same function, so the
 * ratio compares like with like (same process, heap and JIT state).
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
  targetP50Us: number;
  warmup: number;
  calls: number;
  open: () => { store: Store; cleanup: () => void };
}

const PLANS: StorePlan[] = [
  {
    name: 'memory',
    targetP50Us: 20,
    // The first ~5k calls run at ~1.7× steady state while V8 tiers the guard up; 2k is not enough.
    warmup: 10_000,
    calls: 20_000,
    open: () => ({ store: new MemoryStore(), cleanup: () => {} }),
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
}

/** Time `calls` guarded calls, each after one bare call, and count how each was decided. */
async function measure(
  guard: Guard,
  calls: number,
  request: () => ExecuteRequest,
  expected: Expected,
): Promise<Series> {
  const bare = new Float64Array(calls);
  const guarded = new Float64Array(calls);
  const unexpected = new Map<string, number>();
  let matched = 0;
  for (let i = 0; i < calls; i++) {
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
    else {
      const label = `${decision.decision}/${decision.code}`;
      unexpected.set(label, (unexpected.get(label) ?? 0) + 1);
    }
  }
  return { guarded: summarize(guarded), bare: summarize(bare), matched, unexpected };
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

async function benchStore(plan: StorePlan): Promise<{ rows: LatencyRow[]; checks: Check[] }> {
  const { store, cleanup } = plan.open();
  const guard = createGuard({ policies: POLICIES, store });
  try {
    const { token } = await guard.keys.issueRoot({ policy: 'billing', name: 'bench' });

    await measure(guard, plan.warmup, () => freshCharge(token), 'executed');
    const vendorBefore = vendorCalls;
    const executed = await measure(guard, plan.calls, () => freshCharge(token), 'executed');
    const executedVendorCalls = vendorCalls - vendorBefore - plan.calls; // minus the bare calls

    const first = await guard.execute(repeatedCharge(token), noop);
    if (first.decision !== 'executed') {
      throw new Error(`replay setup: first call was ${first.decision}/${first.code}: ${first.message}`);
    }
    await measure(guard, REPLAY_WARMUP, () => repeatedCharge(token), 'replayed');
    const replayBefore = vendorCalls;
    const replayed = await measure(guard, plan.calls, () => repeatedCharge(token), 'replayed');
    const replayVendorCalls = vendorCalls - replayBefore - plan.calls;

    const rows = [
      row(plan.name, 'executed', executed.guarded, executed.bare.p50Us, plan.targetP50Us),
      row(plan.name, 'replayed', replayed.guarded, replayed.bare.p50Us, null),
    ];
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
    return { rows, checks };
  } finally {
    try {
      await guard.close();
    } finally {
      cleanup();
    }
  }
}

export async function coreOverhead(): Promise<BenchResult> {
  await measureBare(BARE_CALLS); // warm-up
  const bare = await measureBare(BARE_CALLS);
  const rows: LatencyRow[] = [row('none', 'bare', bare, bare.p50Us, null)];
  const checks: Check[] = [];
  for (const plan of PLANS) {
    const result = await benchStore(plan);
    rows.push(...result.rows);
    checks.push(...result.checks);
  }
  return {
    name: 'core-overhead',
    title: 'guard.execute overhead around a no-op vendor call (per call, µs; ratio = p50 / bare p50)',
    rows,
    checks,
  };
}
