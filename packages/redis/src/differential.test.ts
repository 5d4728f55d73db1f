import {
  type ApprovalVerdictInput,
  type AuditEntry,
  type BeginPlan,
  type CapWindow,
  chainAudit,
  type FinishInput,
  type KeyRecord,
  MemoryStore,
  type Store,
  verifyAuditRows,
} from '@spendguard/core';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStore } from './redis-store.ts';
import { TEST_REDIS_URL, testPrefix } from './test-helpers.ts';

/**
 * The Lua scripts are a port of core's state-tx.ts. Here the same operations run against core's
 * MemoryStore (the rules themselves) and the RedisStore, and every answer must be equal: begin
 * and finish results, checkpoints, counters, approvals, and the audit rows byte for byte (same
 * seq, same prevHash, same hash), which also proves the Lua SHA-256 and JSON match core's.
 */

const runPrefix = testPrefix('differential');
let n = 0;
const opened: RedisStore[] = [];
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  const sweeper = new RedisStore({ url: TEST_REDIS_URL, prefix: runPrefix });
  await sweeper.clear();
  await sweeper.close();
});

function openRedis(options: { hashTag?: string } = {}): RedisStore {
  const store = new RedisStore({ url: TEST_REDIS_URL, prefix: `${runPrefix}${n++}:`, ...options });
  opened.push(store);
  return store;
}

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

const AWKWARD_NUMBERS = [
  0,
  0.0079,
  86.95,
  0.1 + 0.2,
  1e21,
  5e-324,
  1.23456e-8,
  2 ** 53 + 2,
  1 / 3,
  -12.5,
  321.95,
  null,
] as const;
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

function key(id: string, parent: KeyRecord | null): KeyRecord {
  return {
    id,
    parentId: parent?.id ?? null,
    rootId: parent?.rootId ?? id,
    chain: [...(parent?.chain ?? []), id],
    policy: 'p',
    narrowing: null,
    name: 'name é',
    runId: null,
    createdAt: 1,
    expiresAt: null,
    revokedAt: null,
  };
}

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

async function fuzz(seed: number, redis: RedisStore, steps: number) {
  const r = prng(seed);
  const memory = new MemoryStore();
  const stores: [Store, Store] = [memory, redis];
  const root = key('key_root', null);
  const child = key('run_child', root);
  const grandchild = key('key_grandchild', child);
  const other = key('key_other', null);
  const keys = [root, child, grandchild, other];
  for (const k of keys) await both(stores, (s) => s.insertKey(k));

  let now = Date.parse('2026-11-24T23:59:00.000Z');
  const leases = new Map<string, number>();
  const checkpoints = Array.from({ length: 6 }, (_, i) => `cp_${i}`);
  const approvals = new Set<string>();

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
          capMicros: 9_000_000,
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

  for (let step = 0; step < steps; step++) {
    now += r.pick([0, 1, 10, 500, 1001, 30_000, HOUR / 2]);
    const roll = r.next();
    if (roll < 0.5) {
      const k = r.pick([root, child, grandchild, grandchild, other]);
      const cp = r.pick(checkpoints);
      // The last three are refused (amount_invalid) by core's rules and by the script alike.
      const cost = r.pick([0, 7900, 235_000, 1_000_000, 2_350_000, 86_950_000, Number.NaN, -235_000, 0.5]);
      const minute = Math.floor(now / 60_000);
      const fingerprint = r.pick(['fp_a', 'fp_a', 'fp_b']);
      const plan: BeginPlan = {
        now,
        chain: k.chain,
        keyId: k.id,
        // Shared across roots on purpose: ids are global in every store.
        checkpointId: r.next() < 0.8 ? `${k.rootId}:${cp}` : cp,
        checkpointKey: `${cp} "key" é`,
        fingerprint,
        leaseMs: 1000,
        dedupWindowMs: 5000,
        vendorIdempotent: r.next() < 0.5,
        costMicros: cost,
        windows: windowsOf(k, now),
        rates: [{ id: `${k.id}:rate:${minute}`, keyId: k.id, limit: 4, expiresAt: (minute + 2) * 60_000 }],
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
                ttlMs: r.pick([1000, 30_000, HOUR]),
                createdAt: now,
              }
            : null,
        audit: entry(r, now),
      };
      const result = await both(stores, (s) => s.begin(plan));
      if (plan.approval) approvals.add(plan.approval.id);
      if (result.kind === 'proceed') leases.set(plan.checkpointId, result.checkpoint.fencingToken);
    } else if (roll < 0.8 && leases.size > 0) {
      const [checkpointId, token] = r.pick([...leases.entries()]);
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
      const settled = await both(stores, (s) => s.finish(input).catch((error: unknown) => String(error)));
      if (!stale && typeof settled !== 'string') leases.delete(checkpointId);
    } else if (roll < 0.88 && approvals.size > 0) {
      const id = r.pick([...approvals]);
      const verdict = r.pick(['approved', 'denied'] as const);
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
      await both(stores, (s) => s.decideApproval(input));
    } else if (roll < 0.9) {
      const id = r.pick(keys).id;
      await both(stores, (s) => s.revokeKey(id, now));
    } else if (roll < 0.94) {
      const e = entry(r, now);
      await both(stores, (s) => s.appendAudit(e));
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
      for (const id of approvals) await both(stores, (s) => s.getApproval(id));
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
  await both(stores, (s) => s.listKeys());
  for (const k of keys) await both(stores, (s) => s.getKey(k.id));
  return rows.length;
}

describe('RedisStore against core MemoryStore (differential)', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`same answers and byte-identical audit rows, seed ${seed}`, async () => {
      const rows = await fuzz(seed, openRedis(), 600);
      expect(rows).toBeGreaterThan(150);
    });
  }

  it('same answers with every key under one hash tag', async () => {
    await fuzz(5, openRedis({ hashTag: 'sg' }), 200);
  });

  it('writes the row chainAudit would for awkward numbers and strings, -0 and omitted fields included', async () => {
    const redis = openRedis();
    const r = prng(99);
    let previous: { seq: number; hash: string } | undefined;
    for (let i = 0; i < 200; i++) {
      const e: AuditEntry = entry(r, 1_795_000_000_000 + i);
      if (i % 10 === 3) e.amount = -0;
      if (i % 10 === 4) delete (e as Partial<AuditEntry>).traceId;
      if (i % 10 === 5) (e as { upstreamObjectId: unknown }).upstreamObjectId = undefined;
      const row = await redis.appendAudit(e);
      const expected = chainAudit(e, previous);
      expect(row.hash).toBe(expected.hash);
      expect(row.prevHash).toBe(expected.prevHash);
      expect(row.seq).toBe(expected.seq);
      previous = row;
    }
    expect(verifyAuditRows(await redis.readAudit())).toEqual({ ok: true, rows: 200 });
  });
});
