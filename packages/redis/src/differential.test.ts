import { type AuditEntry, type KeyRecord, MemoryStore, type Store, verifyAuditRows } from '@spendguard/core';
import {
  type AppendedRow,
  type ApprovalVerdictInput,
  type BeginPlan,
  type CapWindow,
  chainAudit,
  type FinishInput,
  type FinishResult,
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
import { describe, expect, it } from 'vitest';
import type { RedisStore } from './redis-store.ts';
import { testStores } from './test-helpers.ts';

/**
 * The Lua scripts are a port of core's state-tx.ts. Here the same operations run against core's
 * MemoryStore (the rules themselves) and the RedisStore, and every answer must be equal: begin
 * and finish results, checkpoints, counters, approvals, and the audit rows byte for byte (same
 * seq, same prevHash, same hash), which also proves the Lua SHA-256 and JSON match core's.
 *
 * Equal answers only prove as much as the runs reach, so the generator acts like agents and
 * people (retries, approvals given then used, run keys revoked and replaced) and each run counts
 * the branches of begin and finish its answers show (core's testing/state-tx-branches.ts); the tests assert
 * every branch is reached, in every seed.
 */

const { open: openRedis } = testStores('differential');

/** A small deterministic PRNG (mulberry32), so a failure replays. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  return { next, pick, int: (max: number) => Math.floor(next() * max) };
}

const AWKWARD_STRINGS = [
  'plain',
  'é中😀',
  'line\nbreak "quoted" back\\slash\ttab',
  '\u2028\u2029\u007f',
  '\u0000\u0001\u001f',
  'lone \ud800 high and \udc00 low surrogates',
  '</script>',
  '',
  null,
] as const;

const key = (id: string, parent: KeyRecord | null) => testKeyRecord(id, parent, { name: 'name é' });

/** Strings a Redis hash field keeps exactly (valid Unicode), as a checkpoint's vendor and operation. */
const HASH_STRINGS = AWKWARD_STRINGS.filter((x) => !x?.includes('lone'));

function entry(r: ReturnType<typeof prng>, time: number): AuditEntry {
  return {
    time,
    keyId: r.pick(AWKWARD_STRINGS),
    rootKeyId: 'key_root',
    runId: r.pick(AWKWARD_STRINGS),
    agentId: r.pick(AWKWARD_STRINGS),
    toolCallId: null,
    vendor: r.pick(['stripe', 'stripe', ...HASH_STRINGS]),
    operation: r.pick(['POST /v1/charges', ...HASH_STRINGS]),
    idempotencyKey: r.pick(AWKWARD_STRINGS),
    decision: 'executed',
    code: 'executed',
    message: r.pick(AWKWARD_STRINGS),
    estimatedCostUsd: r.pick(AWKWARD_NUMBERS),
    actualCostUsd: r.pick(AWKWARD_NUMBERS),
    actualCostIsEstimate: r.pick([true, false, null]),
    amount: r.pick(AWKWARD_NUMBERS),
    currency: r.pick(['usd', 'eur', null]),
    upstreamStatus: r.pick([200, 402, null]),
    upstreamObjectId: r.pick(AWKWARD_STRINGS),
    latencyMs: r.pick([0.125, 1.5, 12.345, 1e-7, null]),
    traceId: r.pick(AWKWARD_STRINGS),
  };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function both<T>(stores: [Store, Store], op: (s: Store) => Promise<T>): Promise<T> {
  const [memory, redis] = stores;
  const expected = await op(memory);
  const actual = await op(redis);
  expect(actual).toEqual(expected);
  return expected;
}

function unlinked(row: AppendedRow): AppendedRow {
  const { prevHash: _prev, hash: _hash, ...rest } = row;
  return rest;
}

function withoutLinks(result: FinishResult): FinishResult {
  return { ...result, audit: unlinked(result.audit) };
}

/** A call as an agent sends it; begin's plan adds the time, windows, rates and audit entry. */
interface Call {
  key: KeyRecord;
  request: Omit<BeginPlan, 'now' | 'windows' | 'rates' | 'audit'>;
}

interface FuzzRun {
  auditRows: number;
  branches: Map<Branch, number>;
  begins: number;
  revocations: number;
}

async function fuzz(seed: number, redis: RedisStore, steps: number): Promise<FuzzRun> {
  const r = prng(seed);
  const memory = new MemoryStore();
  const stores: [Store, Store] = [memory, redis];
  // Roots are never revoked (that would refuse every later call of the run): revocations hit
  // run keys, and each revoked one is replaced by a fresh run key, so calls keep proceeding.
  const root = key('key_root', null);
  const other = key('key_other', null);
  const child = key('run_child', root);
  const keys = [root, other, child, key('key_grandchild', child)];
  for (const k of keys) await both(stores, (s) => s.insertKey(k));
  const revoked = new Set<string>();
  const isLive = (k: KeyRecord) => k.chain.every((id) => !revoked.has(id));

  let now = Date.parse('2026-11-24T23:59:00.000Z');
  const leases = new Map<string, number>();
  const checkpoints = Array.from({ length: 6 }, (_, i) => `cp_${i}`);
  const approvals = new Set<string>();
  /** Approvals a human has yet to decide (as the answers tell). */
  const pendingApprovals = new Set<string>();
  /** The last few calls, which the agent may send again. */
  const recentCalls: Call[] = [];
  /** Recent calls whose approval was just decided: the agent sends them again next. */
  const decidedCalls: Call[] = [];
  const branches = new Map<Branch, number>();
  const reached = (branch: Branch) => branches.set(branch, (branches.get(branch) ?? 0) + 1);
  let begins = 0;

  const windowsOf = (k: KeyRecord, at: number): CapWindow[] => {
    const windows: CapWindow[] = [];
    for (const id of k.chain) {
      const day = Math.floor(at / DAY);
      const hour = Math.floor(at / HOUR);
      windows.push(
        {
          id: `${id}:life`,
          keyId: id,
          label: 'key lifetime',
          capMicros: 30_000_000,
          alerts: [50, 80, 100],
          expiresAt: null,
        },
        {
          id: `${id}:hour:${hour}`,
          keyId: id,
          label: 'hourly',
          capMicros: 4_000_000,
          alerts: [33.3, 90],
          expiresAt: (hour + 1) * HOUR,
        },
        {
          id: `${id}:day:${day}`,
          keyId: id,
          label: 'daily',
          capMicros: null,
          alerts: [],
          expiresAt: (day + 1) * DAY,
        },
      );
    }
    return windows;
  };

  // As the guard plans them: one per-minute rate for the key and each ancestor.
  const ratesOf = (k: KeyRecord, at: number): BeginPlan['rates'] => {
    const minute = Math.floor(at / 60_000);
    return k.chain.map((id) => ({
      id: `${id}:rate:${minute}`,
      keyId: id,
      limit: 2,
      expiresAt: (minute + 2) * 60_000,
    }));
  };

  /** A call never sent before, mostly by a live key, sometimes by a revoked one (or under one). */
  const newCall = (): Call => {
    const refused = keys.filter((k) => !isLive(k));
    const k = refused.length > 0 && r.next() < 0.1 ? r.pick(refused) : r.pick(keys.filter(isLive));
    // A shared checkpoint (collisions on purpose), or one no other call uses.
    const cp = r.next() < 0.5 ? r.pick(checkpoints) : `call_${now}`;
    // Refused (amount_invalid) by core's rules and by the script alike.
    const malformed = [Number.NaN, -235_000, 0.5];
    const cost =
      r.next() < 0.1 ? r.pick(malformed) : r.pick([0, 7900, 235_000, 1_000_000, 2_350_000, 86_950_000]);
    const fingerprint = r.pick(['fp_a', 'fp_a', 'fp_b']);
    const request: Call['request'] = {
      chain: k.chain,
      keyId: k.id,
      // Shared across roots on purpose: ids are global in every store.
      checkpointId: r.next() < 0.8 ? `${k.rootId}:${cp}` : cp,
      checkpointKey: `${cp} "key" é`,
      fingerprint,
      leaseMs: r.pick([1000, 30_000]),
      dedupWindowMs: r.pick([5000, HOUR]),
      vendorIdempotent: r.next() < 0.5,
      costMicros: cost,
      approval:
        r.next() < 0.3
          ? {
              id: `apr_${cp}`,
              // Shared across roots on purpose: ids are global in every store.
              checkpointId: r.next() < 0.8 ? `${k.rootId}:${cp}` : cp,
              keyId: k.id,
              vendor: 'stripe',
              operation: 'POST /v1/refunds',
              costMicros: cost,
              fingerprint,
              account: r.pick(['acct_1', null, ...HASH_STRINGS]),
              recipient: r.pick(['cus_1', null, ...HASH_STRINGS]),
              ttlMs: r.pick([1000, 30_000, HOUR]),
              createdAt: now,
            }
          : null,
    };
    return { key: k, request };
  };

  for (let step = 0; step < steps; step++) {
    // Bursts of calls (leases, dedup windows, rate minutes) and now and then a long pause (hours).
    now += r.next() < 0.05 ? HOUR / 2 : r.pick([0, 1, 10, 500, 1001, 5000]);
    const roll = r.next();
    if (roll < 0.5) {
      // An agent often sends a call again: while it runs (wait), once it is done (replay), after
      // its lease ended (resume), after a person's verdict on its approval (admitted, denied).
      const again =
        decidedCalls.pop() ?? (recentCalls.length > 0 && r.next() < 0.4 ? r.pick(recentCalls) : undefined);
      const call = again ?? newCall();
      const plan: BeginPlan = {
        ...call.request,
        now,
        windows: windowsOf(call.key, now),
        rates: ratesOf(call.key, now),
        approval: call.request.approval && { ...call.request.approval, createdAt: now },
        audit: entry(r, now),
      };
      if (!again) {
        recentCalls.push(call);
        if (recentCalls.length > 4) recentCalls.shift();
      }
      // The approval as it stands before this call tells a new request from a stale approval.
      const approvalId = plan.approval?.id;
      const approvalBefore =
        approvalId === undefined ? undefined : await both(stores, (s) => s.getApproval(approvalId));
      const result = await both(stores, (s) => s.begin(plan));
      begins++;
      reached(beginBranch(plan, approvalBefore, result));
      if (plan.approval) approvals.add(plan.approval.id);
      if (result.kind === 'needs_approval') pendingApprovals.add(result.approvalId);
      if (result.kind === 'proceed') leases.set(plan.checkpointId, result.checkpoint.fencingToken);
    } else if (roll < 0.78) {
      // Mostly a lease this run holds; otherwise any checkpoint id, begun or not (fenced, missing).
      const [checkpointId, token] =
        leases.size > 0 && r.next() < 0.85
          ? r.pick([...leases.entries()])
          : [r.pick(['cp_never_begun', ...checkpoints]), 1 + r.int(3)];
      const stale = r.next() < 0.15;
      const input: FinishInput = {
        now,
        checkpointId,
        fencingToken: stale ? token - 1 : token,
        outcome: r.pick(['completed', 'completed', 'failed', 'unknown'] as const),
        ...(r.next() < 0.7 && { result: JSON.stringify({ id: 'ch_1', note: r.pick(AWKWARD_STRINGS) }) }),
        ...(r.next() < 0.6 && {
          actualMicros: r.pick([0, 7900, 100_000, 3_000_000, Number.NaN, -100_000, Number.POSITIVE_INFINITY]),
        }),
        ...(r.next() < 0.5 && { error: { message: 'declined "card" é', status: 402 } }),
        audit: entry(r, now),
      };
      // A completion at a malformed cost throws the same RangeError from both, changing nothing.
      // Redis links its rows after the step: the finish answers match without the links, and
      // the linked rows are compared when the log is read.
      const settled = await both(stores, (s) =>
        s.finish(input).then(withoutLinks, (error: unknown) => String(error)),
      );
      reached(finishBranch(input, settled));
      if (typeof settled !== 'string' && settled.ok) leases.delete(checkpointId);
    } else if (roll < 0.86) {
      if (approvals.size === 0) continue;
      // Mostly what a person would pick: a recent call's approval still waiting, and a yes.
      const waiting = recentCalls
        .flatMap((c) => c.request.approval?.id ?? [])
        .filter((id) => pendingApprovals.has(id));
      const id = r.pick(waiting.length > 0 && r.next() < 0.8 ? waiting : [...approvals]);
      const verdict = r.next() < 0.75 ? 'approved' : 'denied';
      const by = r.pick(['ops@example.com', null]);
      // Raw strings go to Redis as UTF-8: an unpaired surrogate would come back as U+FFFD.
      const reason = r.pick(AWKWARD_STRINGS.filter((x) => !x?.includes('lone')));
      const base = entry(r, now);
      const input: ApprovalVerdictInput = {
        id,
        verdict,
        by,
        reason,
        now,
        audit: (a) => ({ ...base, keyId: a.keyId, message: `approval ${a.id} ${verdict}` }),
      };
      const decided = await both(stores, (s) => s.decideApproval(input));
      if (decided?.state !== 'pending') {
        pendingApprovals.delete(id);
        decidedCalls.push(...recentCalls.filter((c) => c.request.approval?.id === id));
      }
    } else if (roll < 0.89) {
      // Revoke a run key (sometimes one already refused) and issue a fresh one in its place.
      const id = r.pick(keys.filter((k) => k.parentId !== null)).id;
      await both(stores, (s) => s.revokeKey(id, now));
      revoked.add(id);
      const parent = r.pick(keys.filter((k) => isLive(k) && k.chain.length < 3));
      const fresh = key(`run_${step}`, parent);
      await both(stores, (s) => s.insertKey(fresh));
      keys.push(fresh);
    } else if (roll < 0.93) {
      const e = entry(r, now);
      await both(stores, (s) => s.appendAudit(e).then(unlinked));
    } else if (roll < 0.96) {
      // Anchors at the head, or behind it (kept only while they move forward).
      const head = await both(stores, (s) => s.auditHead());
      const seq = Math.max(0, (head?.seq ?? 0) - r.int(3));
      await both(stores, (s) => s.anchorAudit({ seq, hash: head?.hash ?? 'none', hmac: `hmac_${seq}` }));
      await both(stores, (s) => s.auditHead());
    } else {
      const k = r.pick(keys);
      for (const w of windowsOf(k, now)) await both(stores, (s) => s.getCounter(w.id));
      for (const cp of checkpoints) {
        await both(stores, (s) => s.getCheckpoint(`${k.rootId}:${cp}`));
        await both(stores, (s) => s.getCheckpoint(cp));
      }
      // The newest approvals: every one, at every read, would make the run slow for little more.
      for (const id of [...approvals].slice(-8)) await both(stores, (s) => s.getApproval(id));
      const limit = r.pick([1, 3, undefined]);
      await both(stores, (s) => s.listPending(limit === undefined ? { now } : { now, limit }));
      await both(stores, (s) => s.auditHead());
    }
  }
  const rows = await both(stores, (s) => s.readAudit());
  expect(verifyAuditRows(rows)).toEqual({ ok: true, rows: rows.length });
  expect(await both(stores, (s) => s.auditHead())).toMatchObject({
    seq: rows.length,
    hash: rows.at(-1)?.hash,
  });
  await both(stores, (s) => s.listPending({ now }));
  await both(stores, (s) => s.readAudit({ afterSeq: 7, limit: 5 }));
  for (const traceId of ['plain', 'plai', 'é中😀', '', '%', '.*'])
    await both(stores, (s) => s.readAudit({ traceId, limit: 5 }));
  await both(stores, (s) => s.listKeys());
  for (const k of keys) await both(stores, (s) => s.getKey(k.id));
  return { auditRows: rows.length, branches, begins, revocations: revoked.size };
}

const SEEDS = [1, 2, 3, 4, 5, 6];
/** Each seed's run, for the coverage check across seeds. */
const runs = new Map<number, FuzzRun>();
const ALL_BRANCHES = [...BEGIN_BRANCHES, ...FINISH_BRANCHES];

describe('RedisStore against core MemoryStore (differential)', () => {
  for (const seed of SEEDS) {
    it(`same answers and byte-identical audit rows, seed ${seed}`, async () => {
      const run = await fuzz(seed, openRedis(), 600);
      runs.set(seed, run);
      expect(run.auditRows).toBeGreaterThan(150);
      // Every branch of begin and finish, in every seed.
      for (const branch of ALL_BRANCHES) expect(run.branches.get(branch) ?? 0, branch).toBeGreaterThan(0);
      // Revocations happen, and do not leave the rest of the run to key_revoked.
      expect(run.revocations).toBeGreaterThanOrEqual(5);
      expect(run.branches.get('denied_key_revoked') ?? 0).toBeLessThan(run.begins * 0.15);
    });
  }

  it('reaches each begin and finish branch at least 20 times across the seeds', () => {
    expect([...runs.keys()], 'needs every seed run first (run the whole file)').toEqual(SEEDS);
    for (const branch of ALL_BRANCHES) {
      const total = [...runs.values()].reduce((sum, run) => sum + (run.branches.get(branch) ?? 0), 0);
      expect(total, branch).toBeGreaterThanOrEqual(20);
    }
  });

  it('same answers with every key under one hash tag', async () => {
    await fuzz(5, openRedis({ hashTag: 'sg' }), 200);
  });

  it('writes the row chainAudit would for awkward numbers and strings, -0 and omitted fields included', async () => {
    const redis = openRedis();
    const r = prng(99);
    const entries: AuditEntry[] = [];
    for (let i = 0; i < 200; i++) {
      const e: AuditEntry = entry(r, 1_795_000_000_000 + i);
      if (i % 10 === 3) e.amount = -0;
      if (i % 10 === 4) delete (e as Partial<AuditEntry>).traceId;
      if (i % 10 === 5) (e as { upstreamObjectId: unknown }).upstreamObjectId = undefined;
      const appended = await redis.appendAudit(e);
      expect(appended.seq).toBe(i + 1);
      entries.push(e);
    }
    // Linked after the appends, by the sealer: each row exactly as chainAudit links it.
    const rows = await redis.readAudit();
    let previous: { seq: number; hash: string } | undefined;
    for (const [i, e] of entries.entries()) {
      const expected = chainAudit(e, previous);
      expect(rows[i]).toEqual(JSON.parse(JSON.stringify(expected)));
      previous = expected;
    }
    expect(verifyAuditRows(await redis.readAudit())).toEqual({ ok: true, rows: 200 });
  });
});
