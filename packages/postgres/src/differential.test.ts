import { type AuditEntry, type KeyRecord, MemoryStore, type Store, verifyAuditChain } from '@spendguard/core';
import {
  type ApprovalVerdictInput,
  type BeginPlan,
  type CapWindow,
  type FinishInput,
  GENESIS_HASH,
} from '@spendguard/core/store-kit';
import {
  AWKWARD_NUMBERS,
  BEGIN_BRANCHES,
  type Branch,
  beginBranch,
  FINISH_BRANCHES,
  finishBranch,
  testKeyRecord,
} from '@spendguard/core/testing';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from './postgres-store.ts';
import { auditColumns } from './schema.ts';
import { testSchemas } from './test-support.ts';

/**
 * The step functions (functions.ts) are a port of core's rules (state-tx.ts) to PL/pgSQL. Here
 * random runs of calls go through core's MemoryStore (the rules themselves) and the PostgresStore
 * side by side, and every answer must be equal: begin and finish results, checkpoints, counters,
 * approvals, keys, pending lists, and the audit rows byte for byte (same seq, prevHash and hash:
 * the SQL builds core's canonical JSON and hashes it with Postgres's sha256).
 *
 * fast-check generates the runs; an interpreter turns each generated step into what an agent or a
 * person would do next (a new call, the same call again while it runs, after its lease or after a
 * verdict, a settlement, a stale settlement, a verdict, a revocation), so that every branch of
 * begin and finish is reached: each run counts the branches its answers show, and the suite
 * asserts that all of them were reached. Strings are hostile (quotes, backslashes, NUL, lone
 * surrogates, JSON that looks like the record's own keys) and numbers awkward (1e21, 5e-324,
 * malformed amounts). A second mode rewrites every stored record into the field order an earlier
 * version wrote after each step, so the functions' slower path for such records is held to the
 * same answers.
 */

const db = testSchemas();
let pool: pg.Pool;
let store: PostgresStore;

beforeAll(async () => {
  const schema = db.schema('sg_diff');
  // Durability is not what is tested here: commits need not wait for the disk.
  pool = new pg.Pool({ connectionString: db.url, max: 2, options: '-c synchronous_commit=off' });
  store = new PostgresStore({ pool, schema });
  await store.migrate();
});
afterAll(async () => {
  await store.close();
  await pool.end();
  await db.dropAll();
});

/** An empty store again (one schema serves every run). */
async function reset(): Promise<void> {
  const s = `"${store.schema}"`;
  await pool.query(
    `TRUNCATE ${s}.keys, ${s}.tokens, ${s}.checkpoints, ${s}.counters, ${s}.approvals, ${s}.marks, ${s}.audit; ` +
      `UPDATE ${s}.audit_head SET seq = 0, hash = '${GENESIS_HASH}', anchor_seq = NULL, anchor_hash = NULL, anchor_hmac = NULL; ` +
      `UPDATE ${s}.checkpoint_floor SET value = 1`,
  );
}

/** Core's field order for checkpoints, and approvals with their decision fields first: what earlier versions could leave. */
const CORE_CHECKPOINT_ORDER = [
  'id',
  'key',
  'fingerprint',
  'state',
  'outcomeUnknown',
  'generation',
  'fencingToken',
  'leaseUntil',
  'keyId',
  'reservedMicros',
  'windows',
  'startedAt',
  'completedAt',
  'dedupWindowMs',
  'result',
  'actualMicros',
  'error',
  'vendor',
  'operation',
];

function reorder(record: Record<string, unknown>, first: readonly string[]): string {
  const out: Record<string, unknown> = {};
  for (const key of first) if (key in record) out[key] = record[key];
  for (const [key, value] of Object.entries(record)) if (!(key in out)) out[key] = value;
  return JSON.stringify(out);
}

/** Rewrite every checkpoint and approval as an earlier version would have laid it out. */
async function rewriteAsEarlierVersion(): Promise<void> {
  const s = `"${store.schema}"`;
  const checkpoints = await pool.query<{ id: string; data: string }>(
    `SELECT id, data FROM ${s}.checkpoints WHERE data IS NOT NULL`,
  );
  const approvals = await pool.query<{ id: string; data: string }>(`SELECT id, data FROM ${s}.approvals`);
  const ids = [...checkpoints.rows.map((r) => r.id)];
  const data = checkpoints.rows.map((r) => reorder(JSON.parse(r.data), CORE_CHECKPOINT_ORDER));
  await pool.query(
    `UPDATE ${s}.checkpoints c SET data = u.data FROM unnest($1::text[], $2::text[]) AS u(id, data) WHERE c.id = u.id`,
    [ids, data],
  );
  await pool.query(
    `UPDATE ${s}.approvals a SET data = u.data FROM unnest($1::text[], $2::text[]) AS u(id, data) WHERE a.id = u.id`,
    [
      approvals.rows.map((r) => r.id),
      approvals.rows.map((r) => reorder(JSON.parse(r.data), ['usedAt', 'state', 'reason', 'decidedAt'])),
    ],
  );
}

// ---------------------------------------------------------------------------------------------
// What the runs are made of.

/** Strings that end up inside messages and records: anything a JavaScript string can hold. */
const HOSTILE = [
  'plain',
  'é中😀',
  'line\nbreak "quoted" back\\slash\ttab',
  '\u2028\u2029\u007f',
  '\u0000\u0001\u001f',
  'lone \ud800 high and \udc00 low surrogates',
  '","fencingToken":9,"state":"completed","x":"',
  ',"usedAt":null}',
  '\\',
  '</script>',
  '',
] as const;
/** Ids are row keys (Postgres text): no NUL, no lone surrogate. Quotes and SQL are fine. */
const IDS = ["o'brien", 'é中😀', '"; DROP TABLE keys; --', 'plain', 'a\\b'] as const;
const COSTS = [0, 7900, 235_000, 1_000_000, 2_350_000, 86_950_000, 1_000_005_000];
const MALFORMED = [Number.NaN, -235_000, 0.5, 2 ** 53, Number.POSITIVE_INFINITY];
const SETTLEMENTS = [0, 7900, 100_000, 3_000_000, 1_005_000, Number.NaN, -100_000, Number.POSITIVE_INFINITY];

const text = fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ unit: 'binary', maxLength: 6 }));
const maybeText = fc.option(text, { nil: null });
const entryArb: fc.Arbitrary<Omit<AuditEntry, 'time'>> = fc.record({
  keyId: maybeText,
  rootKeyId: maybeText,
  runId: maybeText,
  agentId: maybeText,
  toolCallId: maybeText,
  vendor: fc.oneof(fc.constant('stripe'), maybeText),
  operation: fc.oneof(fc.constant('POST /v1/charges'), maybeText),
  idempotencyKey: maybeText,
  decision: fc.constant('executed' as const),
  code: fc.constant('executed'),
  message: maybeText,
  estimatedCostUsd: fc.constantFrom(...AWKWARD_NUMBERS),
  actualCostUsd: fc.constantFrom(...AWKWARD_NUMBERS),
  actualCostIsEstimate: fc.constantFrom(true, false, null),
  amount: fc.constantFrom(...AWKWARD_NUMBERS),
  currency: fc.constantFrom('usd', 'eur', null),
  upstreamStatus: fc.constantFrom(200, 402, null),
  upstreamObjectId: maybeText,
  latencyMs: fc.constantFrom(0.125, 1.5, 12.345, 1e-7, null),
  traceId: maybeText,
});

/**
 * One generated step: the interpreter reads its numbers as choices among what exists then, each
 * choice from a number of its own (`n[i]`), so that choices do not depend on one another.
 */
interface Step {
  op: number;
  n: number[];
  text: string;
  other: string;
  entry: Omit<AuditEntry, 'time'>;
  advance: number;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  op: fc.nat(99),
  n: fc.array(fc.nat(9999), { minLength: 41, maxLength: 41 }),
  text,
  other: text,
  entry: entryArb,
  // Bursts of calls (leases, dedup windows, rate minutes), and now and then a long pause.
  advance: fc.constantFrom(0, 0, 1, 10, 500, 1001, 5000, 30 * 60_000),
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A call as an agent sends it; the plan adds the time, windows, rates and audit entry. */
interface Call {
  key: KeyRecord;
  request: Omit<BeginPlan, 'now' | 'windows' | 'rates' | 'audit'>;
  labels: [string, string];
  capDefect: boolean;
}

const keyRecord = (id: string, parent: KeyRecord | null) => testKeyRecord(id, parent, { name: 'name é "q"' });

const pick = <T>(items: readonly T[], n: number): T => items[n % items.length] as T;
/** The step's i-th choice number. */
const at = (step: Step, i: number): number => step.n[i] ?? 0;

interface RunReport {
  branches: Map<Branch, number>;
  auditRows: number;
}

/** Runs `steps` through both stores, comparing every answer and, at the end, everything stored. */
async function run(steps: readonly Step[], options: { earlierLayout?: boolean } = {}): Promise<RunReport> {
  await reset();
  const memory = new MemoryStore();
  const both = async <T>(op: (s: Store) => Promise<T>): Promise<T> => {
    const expected = await op(memory);
    const actual = await op(store);
    expect(actual).toEqual(expected);
    return expected;
  };
  const branches = new Map<Branch, number>();
  const reached = (b: Branch) => branches.set(b, (branches.get(b) ?? 0) + 1);

  const root = keyRecord(`key_root_${IDS[0]}`, null);
  const other = keyRecord('key_other', null);
  const child = keyRecord(`run_${IDS[1]}`, root);
  const keys = [root, other, child, keyRecord(`grandchild_${IDS[2]}`, child)];
  for (const k of keys) await both((s) => s.insertKey(k));
  const revoked = new Set<string>();
  const live = (k: KeyRecord) => k.chain.every((id) => !revoked.has(id));

  let now = Date.parse('2026-11-24T23:59:00.000Z');
  const leases = new Map<string, number>();
  const checkpointNames = ['cp_0', `cp_${IDS[3]}`, `cp_${IDS[4]}`, 'cp_3'];
  const checkpointIds = new Set<string>(['cp_never_begun']);
  const approvals = new Set<string>();
  const pending = new Set<string>();
  const recent: Call[] = [];
  const decided: Call[] = [];
  const windowIds = new Set<string>();
  let fresh = 0;

  const windowsOf = (call: Call, at: number): CapWindow[] => {
    const windows: CapWindow[] = [];
    const hour = Math.floor(at / HOUR);
    const day = Math.floor(at / DAY);
    for (const id of call.key.chain) {
      windows.push(
        {
          id: `${id}:life`,
          keyId: id,
          label: call.labels[0],
          capMicros: 30_000_000,
          alerts: [50, 80, 100],
          expiresAt: null,
        },
        {
          id: `${id}:hour:${hour}`,
          keyId: `${id} ${call.labels[1]}`,
          label: 'hourly',
          capMicros: call.capDefect ? 1.5 : 4_000_000,
          alerts: [33.3, 90, 12.5],
          expiresAt: (hour + 1) * HOUR,
        },
        {
          id: `${id}:day:${day}`,
          keyId: id,
          label: 'daily',
          capMicros: null,
          alerts: [50],
          expiresAt: (day + 1) * DAY,
        },
      );
    }
    for (const w of windows) windowIds.add(w.id);
    return windows;
  };
  const ratesOf = (call: Call, at: number): BeginPlan['rates'] => {
    const minute = Math.floor(at / 60_000);
    return call.key.chain.map((id) => ({
      id: `${id}:rate:${minute}`,
      keyId: `${id} ${call.labels[1]}`,
      limit: 2,
      expiresAt: (minute + 2) * 60_000,
    }));
  };

  const newCall = (step: Step): Call => {
    const refused = keys.filter((k) => !live(k));
    const k =
      refused.length > 0 && at(step, 0) % 10 === 0
        ? pick(refused, at(step, 1))
        : pick(keys.filter(live), at(step, 2));
    const shared = at(step, 3) % 2 === 0;
    const name = shared ? pick(checkpointNames, at(step, 4) >> 1) : `call_${fresh++}`;
    const cost = at(step, 5) % 10 === 1 ? pick(MALFORMED, at(step, 6)) : pick(COSTS, at(step, 7) >> 3);
    const fingerprint = pick(['fp_a', 'fp_a', `fp_${step.other}`], at(step, 8) >> 4);
    const checkpointId = at(step, 9) % 5 === 0 ? name : `${k.rootId}:${name}`;
    checkpointIds.add(checkpointId);
    const withApproval = at(step, 10) % 10 < 3;
    return {
      key: k,
      labels: [step.text, step.other],
      capDefect: at(step, 11) % 29 === 7,
      request: {
        chain: k.chain,
        keyId: k.id,
        checkpointId,
        checkpointKey: `${name} ${step.text}`,
        fingerprint,
        leaseMs: pick([1000, 30_000], at(step, 12) >> 2),
        dedupWindowMs: pick([5000, HOUR], at(step, 13) >> 3),
        vendorIdempotent: at(step, 14) % 2 === 0,
        costMicros: cost,
        approval: withApproval
          ? {
              id: `apr_${name}_${IDS[at(step, 15) % IDS.length]}`,
              checkpointId,
              keyId: k.id,
              vendor: 'stripe',
              operation: `POST /v1/refunds ${step.other}`,
              costMicros: pick([cost, 1_000_000, 86_950_000], at(step, 16) >> 5),
              fingerprint,
              account: pick(['acct_1', null, step.other], at(step, 17) >> 2),
              recipient: pick(['cus_1', null, step.text], at(step, 17) >> 4),
              ttlMs: pick([1000, 30_000, HOUR], at(step, 18) >> 4),
              createdAt: now,
            }
          : null,
      },
    };
  };

  for (const step of steps) {
    now += step.advance;
    const op = step.op;
    if (op < 50) {
      const again =
        decided.pop() ??
        (recent.length > 0 && at(step, 19) % 10 < 4 ? pick(recent, at(step, 20)) : undefined);
      const call = again ?? newCall(step);
      if (!again) {
        recent.push(call);
        if (recent.length > 4) recent.shift();
      }
      const plan: BeginPlan = {
        ...call.request,
        now,
        windows: windowsOf(call, now),
        rates: ratesOf(call, now),
        approval: call.request.approval && { ...call.request.approval, createdAt: now },
        audit: { ...step.entry, time: now },
      };
      const approvalId = plan.approval?.id;
      const before = approvalId === undefined ? undefined : await memory.getApproval(approvalId);
      const result = await both((s) => s.begin(plan));
      reached(beginBranch(plan, before, result));
      if (approvalId !== undefined) approvals.add(approvalId);
      if (result.kind === 'needs_approval') pending.add(result.approvalId);
      if (result.kind === 'proceed') leases.set(plan.checkpointId, result.checkpoint.fencingToken);
    } else if (op < 75) {
      const held = [...leases.entries()];
      const [checkpointId, token] =
        held.length > 0 && at(step, 21) % 100 < 85
          ? pick(held, at(step, 22))
          : [pick([...checkpointIds], at(step, 23)), 1 + (at(step, 24) % 3)];
      const input: FinishInput = {
        now,
        checkpointId,
        fencingToken: at(step, 25) % 7 === 0 ? token - 1 : token,
        outcome: pick(['completed', 'completed', 'failed', 'unknown'] as const, at(step, 26)),
        ...(at(step, 27) % 10 < 7 && { result: JSON.stringify({ id: 'ch_1', note: step.text }) }),
        ...(at(step, 28) % 10 < 6 && { actualMicros: pick(SETTLEMENTS, at(step, 29) >> 3) }),
        ...(at(step, 30) % 10 < 5 && { error: { message: `declined "${step.other}"`, status: 402 } }),
        audit: { ...step.entry, time: now },
      };
      const settled = await both((s) => s.finish(input).catch((error: unknown) => String(error)));
      reached(finishBranch(input, settled));
      if (typeof settled !== 'string' && settled.ok) leases.delete(checkpointId);
    } else if (op < 84) {
      if (approvals.size === 0) continue;
      const waiting = recent.flatMap((c) => c.request.approval?.id ?? []).filter((id) => pending.has(id));
      const id = pick(waiting.length > 0 && at(step, 31) % 10 < 8 ? waiting : [...approvals], at(step, 32));
      const verdict = at(step, 33) % 4 === 0 ? 'denied' : 'approved';
      const input: ApprovalVerdictInput = {
        id,
        verdict,
        by: pick(['ops@example.com', null, step.text], at(step, 34)),
        reason: pick([null, step.other, ''], at(step, 35) >> 2),
        now,
        audit: (a) => ({ ...step.entry, time: now, keyId: a.keyId, message: `approval ${a.id} ${verdict}` }),
      };
      const result = await both((s) => s.decideApproval(input));
      if (result?.state !== 'pending') {
        pending.delete(id);
        decided.push(...recent.filter((c) => c.request.approval?.id === id));
      }
    } else if (op < 87) {
      // Revoke a run key (perhaps one already refused) and issue a fresh one in its place.
      const id = pick(
        keys.filter((k) => k.parentId !== null),
        at(step, 36),
      ).id;
      await both((s) => s.revokeKey(id, now));
      revoked.add(id);
      const parent = pick(
        keys.filter((k) => live(k) && k.chain.length < 3),
        at(step, 37),
      );
      const fresh = keyRecord(`run_${keys.length}_${pick(IDS, at(step, 38))}`, parent);
      await both((s) => s.insertKey(fresh));
      keys.push(fresh);
    } else if (op < 91) {
      await both((s) => s.appendAudit({ ...step.entry, time: now }));
    } else if (op < 94) {
      const head = await both((s) => s.auditHead());
      const seq = Math.max(0, (head?.seq ?? 0) - (at(step, 39) % 3));
      await both((s) => s.anchorAudit({ seq, hash: head?.hash ?? 'none', hmac: `hmac_${seq}` }));
    } else {
      for (const id of checkpointIds) await both((s) => s.getCheckpoint(id));
      await both((s) => s.listPending({ now, limit: pick([1, 3, 100], at(step, 40)) }));
    }
    if (options.earlierLayout) await rewriteAsEarlierVersion();
  }

  const rows = await both((s) => s.readAudit());
  const head = await both((s) => s.auditHead());
  expect(verifyAuditChain(rows, head)).toEqual({ ok: true, rows: rows.length });
  // The audit filters (columns the functions fill without regular expressions) hold what the
  // expressions of the indexes they replaced read from each row, and find the rows core finds.
  const columns = auditColumns('data');
  const [wrong] = await db.sql<{ n: number }>(
    `SELECT count(*)::int AS n FROM "${store.schema}".audit WHERE ${columns.map(([c, e]) => `${c} IS DISTINCT FROM ${e}`).join(' OR ')}`,
  );
  expect(wrong?.n).toBe(0);
  const some = <T>(values: T[]) => [...new Set(values)].slice(0, 6);
  for (const keyId of some(rows.map((r) => r.keyId)))
    if (keyId !== null) await both((s) => s.readAudit({ keyId }));
  for (const rootKeyId of some(rows.map((r) => r.rootKeyId))) {
    if (rootKeyId !== null) await both((s) => s.readAudit({ rootKeyId, limit: 5 }));
  }
  for (const runId of some(rows.map((r) => r.runId)))
    if (runId !== null) await both((s) => s.readAudit({ runId }));
  for (const decision of some(rows.map((r) => r.decision))) await both((s) => s.readAudit({ decision }));
  // Trace ids: each as written, extended as an adapter does (`;…`), and near misses that a
  // pattern (LIKE, a regular expression) or a prefix without the `;` would wrongly match.
  const last = rows.at(-1);
  for (const traceId of some(rows.map((r) => r.traceId))) {
    if (traceId === null || last === undefined) continue;
    const { seq: _seq, prevHash: _prev, hash: _hash, ...entry } = last;
    await both((s) => s.appendAudit({ ...entry, traceId: `${traceId};group=g_1%` }));
    for (const query of [
      traceId,
      `${traceId};group=g_1%`,
      `${traceId};group=g`,
      traceId.slice(0, -1),
      `${traceId}%`,
    ])
      await both((s) => s.readAudit({ traceId: query }));
  }
  for (const traceId of ['%', '_', '.*', '\\']) await both((s) => s.readAudit({ traceId }));
  const middle = rows[Math.floor(rows.length / 2)]?.time ?? now;
  await both((s) => s.readAudit({ fromTime: middle, toTime: now }));
  for (const id of checkpointIds) await both((s) => s.getCheckpoint(id));
  for (const id of windowIds) await both((s) => s.getCounter(id));
  for (const id of approvals) await both((s) => s.getApproval(id));
  await both((s) => s.listApprovals({ limit: 1000 }));
  await both((s) => s.listPending({ now }));
  await both((s) => s.listKeys());
  return { branches, auditRows: rows.length };
}

const ALL_BRANCHES: readonly Branch[] = [...BEGIN_BRANCHES, ...FINISH_BRANCHES];
const totals = new Map<Branch, number>();
function count(report: RunReport): void {
  for (const [branch, n] of report.branches) totals.set(branch, (totals.get(branch) ?? 0) + n);
}

describe('PostgresStore against core MemoryStore (differential)', () => {
  const SEEDS = [17, 2026, 4242];
  for (const seed of SEEDS) {
    it(`same answers and byte-identical audit rows over random runs, seed ${seed}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(stepArb, { minLength: 60, maxLength: 160 }), async (steps) => {
          count(await run(steps));
        }),
        { seed, numRuns: 12, endOnFailure: true },
      );
    });
  }

  it('same answers when every record is stored in the field order of an earlier version', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 60, maxLength: 140 }), async (steps) => {
        count(await run(steps, { earlierLayout: true }));
      }),
      { seed: 99, numRuns: 8, endOnFailure: true },
    );
  });

  it('reached every branch of begin and finish, each at least 10 times', () => {
    expect(totals.size, 'run the whole file').toBeGreaterThan(0);
    for (const branch of ALL_BRANCHES) expect(totals.get(branch) ?? 0, branch).toBeGreaterThanOrEqual(10);
  });
});
