import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type AuditProblem, auditAnchor, chainAudit, verifyAuditChain } from '../audit-chain.ts';
import type { ExecuteDecision } from '../decision.ts';
import { VendorCallError } from '../errors.ts';
import { createGuard, type ExecuteRequest, type Guard, type GuardOptions } from '../guard.ts';
import { emptyAudit } from '../pipeline/audit-entries.ts';
import type { PolicyDocument, PolicySettings } from '../policy.ts';
import type {
  AlertEvent,
  AuditEntry,
  AuditHead,
  AuditQuery,
  AuditRow,
  BeginPlan,
  CapWindow,
  CheckpointRecord,
  Decision,
  FinishInput,
  KeyQuery,
  KeyRecord,
  Store,
} from '../store.ts';
import { FakeClock } from './fake-clock.ts';

/** Makes a fresh, empty store for one test. */
export type StoreFactory = () => Promise<Store> | Store;

export interface ConformanceOptions {
  /**
   * Tamper with the stored audit log, to show `verify` catches it: `edit` changes row `seq`
   * in place, `delete` removes it, `swap` exchanges the stored rows `seq` and `seq + 1`.
   * Backends that cannot be tampered with from a test omit it.
   */
  tamperAudit?: (store: Store, seq: number, how: 'edit' | 'delete' | 'swap') => Promise<void>;
  /**
   * Replace every stored audit row with `rows` and the head (anchor included) with `head`, as
   * someone with write access to the store, but not the audit key, would.
   */
  rewriteAudit?: (store: Store, rows: AuditRow[], head: AuditHead) => Promise<void>;
}

const SECRET = 'sk_test_conformance_SECRET_51Hx9';
const SECRET_ENV = 'SPENDGUARD_CONFORMANCE_STRIPE_SECRET';
const HOUR = 3_600_000;

function document(policy: PolicySettings = {}): PolicyDocument {
  return {
    policies: {
      billing: {
        stripe: {
          allow: [
            {
              'POST /v1/charges': {
                amount: { max: 100_000 },
                currency: { in: ['usd', 'eur', 'gbp'] },
                customer: { required: true },
                'metadata.order_id': { prefix: 'ord_' },
              },
            },
            'POST /v1/refunds',
            'GET /v1/charges/*',
          ],
        },
        twilio: { allow: ['POST /2010-04-01/Accounts/*/Messages.json'] },
        fx: { eur: 1.1 },
        ...policy,
      },
    },
    credentials: { stripe: { env: SECRET_ENV } },
  };
}

/** A Stripe-like charge of `cents` US cents for `customer`. */
function charge(
  key: string,
  cents: number,
  extra: Partial<ExecuteRequest> & { order?: string } = {},
): ExecuteRequest {
  const { order, ...rest } = extra;
  return {
    key,
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: cents, currency: 'usd', customer: 'cus_1', metadata: { order_id: order ?? 'ord_1' } },
    cost: { amount: cents / 100, currency: 'usd' },
    ...rest,
  };
}

function sms(key: string, to: string): ExecuteRequest {
  return {
    key,
    vendor: 'twilio',
    method: 'POST',
    path: '/2010-04-01/Accounts/AC1/Messages.json',
    params: { To: to, Body: 'hi' },
    cost: { amount: 0.0079, currency: 'usd' },
  };
}

/**
 * The audit row the guard would hand the store for a charge by `keyId` (decision set by the
 * store): for backends' own tests that drive the store directly.
 */
export function chargeAudit(keyId: string, idempotencyKey: string | null, time: number): AuditEntry {
  return {
    ...emptyAudit(time),
    keyId,
    rootKeyId: keyId,
    vendor: 'stripe',
    operation: 'POST /v1/charges',
    idempotencyKey,
    decision: 'executed',
    code: 'executed',
  };
}

/**
 * A plan for the checkpoint `cp_<name>` of a root key, as the guard would build it: $1 reserved,
 * no windows, rates or approval, a 1 s lease and an hour's dedup window unless `changes` say so.
 */
function checkpointPlan(
  keyId: string,
  name: string,
  now: number,
  changes: Partial<BeginPlan> = {},
): BeginPlan {
  return {
    now,
    chain: [keyId],
    keyId,
    checkpointId: `cp_${name}`,
    checkpointKey: name,
    fingerprint: `fp_${name}`,
    leaseMs: 1000,
    dedupWindowMs: HOUR,
    vendorIdempotent: true,
    costMicros: 1_000_000,
    windows: [],
    rates: [],
    approval: null,
    audit: chargeAudit(keyId, name, now),
    ...changes,
  };
}

/** The id part of a vault token (`sk_sg_<16 hex id><48 hex secret>`): the store's TokenRecord id. */
function tokenId(token: string): string {
  return token.slice(-64, -48);
}

/** How every store words an amount that is not a whole number of micro-dollars from 0 to 2^53 - 1. */
function notMicros(subject: string): string {
  return `${subject} is not a finite, non-negative whole number of micro-dollars below 2^53`;
}

/** A vendor function that counts its calls and answers like Stripe. */
function fakeVendor(delayMs = 0) {
  const vendor = {
    calls: 0,
    keys: [] as string[],
    fn: async (ctx: { idempotencyKey: string }) => {
      vendor.calls++;
      vendor.keys.push(ctx.idempotencyKey);
      if (delayMs) await sleep(delayMs);
      return { id: `ch_${vendor.calls}`, object: 'charge' };
    },
  };
  return vendor;
}

/**
 * The store conformance suite: one table of behaviours every backend must pass, with a fake
 * clock. Run it from a backend's test file: `describeStoreConformance('sqlite', () => new SqliteStore(…))`.
 */
export function describeStoreConformance(
  name: string,
  factory: StoreFactory,
  options: ConformanceOptions = {},
): void {
  describe(`store conformance: ${name}`, () => {
    const open: Guard[] = [];
    afterEach(async () => {
      delete process.env[SECRET_ENV];
      await Promise.all(open.splice(0).map((g) => g.close().catch(() => {})));
    });

    async function setup(policy: PolicySettings = {}, guardOptions: Partial<GuardOptions> = {}) {
      const clock = new FakeClock();
      const alerts: AlertEvent[] = [];
      const store = await factory();
      const guard = createGuard({
        policies: document(policy),
        store,
        now: clock.now,
        onAlert: (a) => alerts.push(a),
        ...guardOptions,
      });
      open.push(guard);
      const root = await guard.keys.issueRoot({ policy: 'billing', name: 'billing-agent' });
      return { clock, alerts, store, guard, root };
    }

    /** A store driven directly: checkpoints begun by name, each reserving $1 for an hour's window. */
    async function directStore() {
      const { store, root, clock } = await setup();
      const t = clock.now();
      const plan = (name: string, now: number, leaseMs = 1000): BeginPlan =>
        checkpointPlan(root.id, name, now, { leaseMs });
      const begin = async (name: string, now: number, leaseMs?: number) => {
        const begun = await store.begin(plan(name, now, leaseMs));
        if (begun.kind !== 'proceed') throw new Error(`expected proceed, got ${begun.kind}`);
        return begun.checkpoint;
      };
      return { store, root, t, plan, begin };
    }

    describe('checkpoints', () => {
      it('executes once and replays a completed duplicate without calling the vendor', async () => {
        const { guard, root } = await setup();
        const vendor = fakeVendor();
        const first = await guard.execute(charge(root.token, 500), vendor.fn);
        const second = await guard.execute(charge(root.token, 500), vendor.fn);
        expect(first.decision).toBe('executed');
        expect(second).toMatchObject({ decision: 'replayed', code: 'replayed' });
        expect(vendor.calls).toBe(1);
        if (first.decision !== 'executed' || second.decision !== 'replayed') throw new Error('unreachable');
        expect(second.result).toEqual(first.result);
        expect(second.idempotencyKey).toBe(first.idempotencyKey);
      });

      it('hashes canonical JSON: key order and number formatting do not matter', async () => {
        const { guard, root } = await setup();
        const vendor = fakeVendor();
        const a = charge(root.token, 5000);
        const b: ExecuteRequest = {
          ...a,
          params: { metadata: { order_id: 'ord_1' }, customer: 'cus_1', currency: 'usd', amount: 5e3 },
        };
        await guard.execute(a, vendor.fn);
        const again = await guard.execute(b, vendor.fn);
        expect(again.decision).toBe('replayed');
        expect(vendor.calls).toBe(1);
        const different = await guard.execute(charge(root.token, 5001), vendor.fn);
        expect(different.decision).toBe('executed');
        expect(vendor.calls).toBe(2);
      });

      it('denies an explicit key reused with different params, without calling the vendor', async () => {
        const { guard, root } = await setup();
        const vendor = fakeVendor();
        await guard.execute(charge(root.token, 500, { idempotencyKey: 'order-42' }), vendor.fn);
        const reuse = await guard.execute(charge(root.token, 900, { idempotencyKey: 'order-42' }), vendor.fn);
        expect(reuse).toMatchObject({ decision: 'denied', code: 'idempotency_mismatch' });
        expect(vendor.calls).toBe(1);
      });

      it('deduplicates across runs of one root key by default, and per run with scope "run"', async () => {
        const { guard, root } = await setup();
        const vendor = fakeVendor();
        const runA = await guard.keys.derive(root.token, { runId: 'a' });
        const runB = await guard.keys.derive(root.token, { runId: 'b' });
        await guard.execute(charge(runA.token, 500), vendor.fn);
        expect((await guard.execute(charge(runB.token, 500), vendor.fn)).decision).toBe('replayed');
        await guard.execute(charge(runA.token, 700, { scope: 'run' }), vendor.fn);
        expect((await guard.execute(charge(runB.token, 700, { scope: 'run' }), vendor.fn)).decision).toBe(
          'executed',
        );
        expect(vendor.calls).toBe(3);
      });

      it('runs the vendor once for 50 concurrent identical calls and gives all 50 its result', async () => {
        const { guard, root } = await setup();
        const vendor = fakeVendor(20);
        const decisions = await Promise.all(
          Array.from({ length: 50 }, () => guard.execute(charge(root.token, 1234), vendor.fn)),
        );
        expect(vendor.calls).toBe(1);
        const results = decisions.map((d) => ('result' in d ? d.result : undefined));
        expect(results).toEqual(Array.from({ length: 50 }, () => ({ id: 'ch_1', object: 'charge' })));
        expect(decisions.filter((d) => d.decision === 'executed')).toHaveLength(1);
        expect(decisions.filter((d) => d.code === 'replayed_after_wait').length).toBeGreaterThan(0);
      });

      it('gives concurrent duplicates the failure of the call they waited for', async () => {
        const { guard, root } = await setup();
        let calls = 0;
        const declined = async () => {
          calls++;
          // Long enough for all four duplicates to reach begin while this one is in flight, even
          // on a loaded machine where a shared store's begin queues for a pool connection.
          await sleep(250);
          throw new VendorCallError('Your card was declined.', { outcome: 'failed', status: 402 });
        };
        const decisions = await Promise.all(
          Array.from({ length: 5 }, () => guard.execute(charge(root.token, 300), declined)),
        );
        expect(calls).toBe(1);
        expect(decisions.every((d) => d.decision === 'failed' && d.code === 'vendor_error')).toBe(true);
      });

      it('waits for an in-flight duplicate only as long as allowed, then denies in_flight', async () => {
        const { guard, root } = await setup({}, { waitTimeoutMs: 30 });
        const slow = fakeVendor(300);
        const first = guard.execute(charge(root.token, 100), slow.fn);
        await sleep(10);
        const second = await guard.execute(charge(root.token, 100), slow.fn);
        expect(second).toMatchObject({ decision: 'denied', code: 'in_flight' });
        expect((await first).decision).toBe('executed');
        expect(slow.calls).toBe(1);
      });

      it('runs the call again after the dedup window, under a new vendor idempotency key', async () => {
        const { guard, root, clock } = await setup({ dedupWindow: '1h' });
        const vendor = fakeVendor();
        await guard.execute(charge(root.token, 500), vendor.fn);
        clock.advance(HOUR - 1);
        expect((await guard.execute(charge(root.token, 500), vendor.fn)).decision).toBe('replayed');
        clock.advance(2);
        expect((await guard.execute(charge(root.token, 500), vendor.fn)).decision).toBe('executed');
        expect(vendor.calls).toBe(2);
        expect(vendor.keys[0]).not.toBe(vendor.keys[1]);
      });
    });

    describe('vendor failures', () => {
      it('releases the reservation when the call surely failed, and a retry runs again', async () => {
        const { guard, root } = await setup({ caps: { perKey: 10 } });
        const failing = async () => {
          throw new VendorCallError('invalid request', { outcome: 'failed', status: 400 });
        };
        const failed = await guard.execute(charge(root.token, 800), failing);
        expect(failed).toMatchObject({ decision: 'failed', code: 'vendor_error', error: { status: 400 } });
        expect((await guard.spend(root.id)).lifetimeUsd).toBe(0);
        const vendor = fakeVendor();
        const retry = await guard.execute(charge(root.token, 800), vendor.fn);
        expect(retry.decision).toBe('executed');
        expect((await guard.spend(root.id)).lifetimeUsd).toBe(8);
      });

      it('keeps the reservation and the checkpoint when the outcome is unknown; after the lease, re-sends with the same vendor key', async () => {
        const { guard, root, clock } = await setup(
          { caps: { perKey: 10 } },
          { leaseMs: 30_000, waitTimeoutMs: 20 },
        );
        const keys: string[] = [];
        const timeout = async (ctx: { idempotencyKey: string }) => {
          keys.push(ctx.idempotencyKey);
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        };
        const first = await guard.execute(charge(root.token, 600), timeout);
        expect(first).toMatchObject({ decision: 'failed', code: 'outcome_unknown' });
        expect((await guard.spend(root.id)).lifetimeUsd).toBe(6);
        // Before the lease ends no one may re-send it; the answer says so at once, without waiting.
        const early = await guard.execute(charge(root.token, 600), timeout);
        expect(early).toMatchObject({ decision: 'denied', code: 'outcome_unknown' });
        expect(early.message).toContain('can be retried after');
        // A second charge cannot use the reserved money meanwhile.
        expect((await guard.execute(charge(root.token, 500, { order: 'ord_2' }), timeout)).code).toBe(
          'cap_exceeded',
        );
        clock.advance(30_001);
        const vendor = fakeVendor();
        const retry = await guard.execute(charge(root.token, 600), async (ctx) => {
          keys.push(ctx.idempotencyKey);
          expect(ctx.resumed).toBe(true);
          return vendor.fn(ctx);
        });
        expect(retry.decision).toBe('executed');
        expect(new Set(keys).size).toBe(1);
        expect((await guard.spend(root.id)).lifetimeUsd).toBe(6);
      });

      it('denies outcome_unknown after the lease for a vendor with no idempotency key', async () => {
        const { guard, root, clock } = await setup({}, { leaseMs: 1000 });
        let calls = 0;
        const reset = async () => {
          calls++;
          throw Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' });
        };
        expect((await guard.execute(sms(root.token, '+15550001'), reset)).code).toBe('outcome_unknown');
        clock.advance(1001);
        const retry = await guard.execute(sms(root.token, '+15550001'), reset);
        expect(retry).toMatchObject({ decision: 'denied', code: 'outcome_unknown' });
        expect(calls).toBe(1);
      });

      it('ignores the settlement of a stale attempt whose lease was taken over', async () => {
        const { guard, root, clock } = await setup({ caps: { perKey: 100 } }, { leaseMs: 1000 });
        let release: () => void = () => {};
        const stale = guard.execute(charge(root.token, 1000), async () => {
          await new Promise<void>((r) => {
            release = r;
          });
          return { id: 'ch_stale', amount: 1000 };
        });
        await sleep(5);
        clock.advance(1001);
        const takeover = await guard.execute(
          charge(root.token, 1000),
          async () => ({ id: 'ch_new', amount: 1000 }),
          {
            settle: () => ({ cost: { amount: 9, currency: 'usd' } }),
          },
        );
        expect(takeover.decision).toBe('executed');
        release();
        await stale;
        const replay = await guard.execute(charge(root.token, 1000), fakeVendor().fn);
        expect(replay).toMatchObject({ decision: 'replayed', result: { id: 'ch_new' } });
        expect((await guard.spend(root.id)).lifetimeUsd).toBe(9);
      });

      it('settles to the actual cost read from the result', async () => {
        const { guard, root } = await setup({ caps: { perKey: 100 } });
        const d = await guard.execute(charge(root.token, 2000), async () => ({ amount_captured: 1500 }), {
          settle: (r) => ({
            cost: { amount: r.amount_captured / 100, currency: 'usd' },
            upstreamStatus: 200,
            upstreamObjectId: 'ch_9',
          }),
        });
        expect(d).toMatchObject({ decision: 'executed', actualCostUsd: 15, estimatedCostUsd: 20 });
        expect((await guard.spend(root.id)).lifetimeUsd).toBe(15);
        const row = (await guard.audit.list()).at(-1);
        expect(row).toMatchObject({ actualCostUsd: 15, upstreamStatus: 200, upstreamObjectId: 'ch_9' });
      });
    });

    describe('caps', () => {
      it('admits exactly 37 of 200 concurrent calls racing for a cap, to the cent', async () => {
        const { guard, root } = await setup({ caps: { perKey: 88 } });
        const vendor = fakeVendor(1);
        // $2.35 each: 37 calls are $86.95, a 38th would be $89.30 > $88.
        const decisions = await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            guard.execute(charge(root.token, 235, { order: `ord_${i}` }), vendor.fn),
          ),
        );
        expect(decisions.filter((d) => d.decision === 'executed')).toHaveLength(37);
        expect(decisions.filter((d) => d.code === 'cap_exceeded')).toHaveLength(163);
        expect(vendor.calls).toBe(37);
        expect((await guard.spend(root.id)).lifetimeUsd).toBe(86.95);
      });

      it('denies a call above the per-call cap before anything is reserved', async () => {
        const { guard, root } = await setup({ caps: { perCall: 50 } });
        const vendor = fakeVendor();
        expect((await guard.execute(charge(root.token, 5001), vendor.fn)).code).toBe('cap_exceeded');
        expect((await guard.execute(charge(root.token, 5000), vendor.fn)).decision).toBe('executed');
        expect(vendor.calls).toBe(1);
      });

      it('caps each run, and counts every run against the root key too', async () => {
        const { guard, root } = await setup({ caps: { perRun: 10, perDay: 25 } });
        const vendor = fakeVendor();
        let n = 0;
        const spendRun = async (runId: string, amounts: number[]) => {
          const run = await guard.keys.derive(root.token, { runId });
          const out: ExecuteDecision<unknown>[] = [];
          for (const cents of amounts)
            out.push(await guard.execute(charge(run.token, cents, { order: `ord_${n++}` }), vendor.fn));
          return out;
        };
        const r1 = await spendRun('r1', [400, 400, 400]);
        expect(r1.map((d) => d.decision)).toEqual(['executed', 'executed', 'denied']);
        expect(r1[2]?.message).toContain('run cap');
        await spendRun('r2', [400, 400]);
        // The root's day: 8 + 8 + 5 = 21, then 26 > 25 while this run is only at 10.
        const r3 = await spendRun('r3', [500, 500]);
        expect(r3.map((d) => d.decision)).toEqual(['executed', 'denied']);
        expect(r3[1]?.message).toContain('daily cap');
        expect((await guard.spend(root.id)).dayUsd).toBe(21);
        expect(vendor.calls).toBe(5);
      });

      it('re-derives the same run key for the same run id, keeping its spend', async () => {
        const { guard, root } = await setup({ caps: { perRun: 10 } });
        const vendor = fakeVendor();
        const a = await guard.keys.derive(root.token, { runId: 'same' });
        const b = await guard.keys.derive(root.token, { runId: 'same' });
        expect(b).toMatchObject({ id: a.id, reused: true });
        expect(b.token).not.toBe(a.token);
        await guard.execute(charge(a.token, 800, { order: 'ord_a' }), vendor.fn);
        expect((await guard.execute(charge(b.token, 800, { order: 'ord_b' }), vendor.fn)).code).toBe(
          'cap_exceeded',
        );
      });

      it('resets hourly and daily windows as the clock moves on, but not the lifetime cap', async () => {
        const { guard, root, clock } = await setup({ caps: { perHour: 10, perDay: 15, perKey: 20 } });
        const vendor = fakeVendor();
        let n = 0;
        const pay = (cents: number) =>
          guard.execute(charge(root.token, cents, { order: `ord_${n++}` }), vendor.fn);
        expect((await pay(1000)).decision).toBe('executed');
        expect((await pay(100)).code).toBe('cap_exceeded'); // hour is full
        clock.advance(HOUR);
        expect((await pay(500)).decision).toBe('executed');
        expect((await pay(100)).code).toBe('cap_exceeded'); // day is full (15)
        clock.set('2026-11-25T00:00:00.000Z');
        expect((await pay(500)).decision).toBe('executed');
        expect((await pay(100)).code).toBe('cap_exceeded'); // lifetime is full (20)
      });

      it('prices other currencies with the FX table and denies a currency with no rate', async () => {
        const { guard, root } = await setup({ caps: { perKey: 100 } });
        const vendor = fakeVendor();
        const eur = await guard.execute(
          {
            ...charge(root.token, 1000),
            params: { ...charge(root.token, 1000).params, currency: 'eur' },
            cost: { amount: 10, currency: 'EUR' },
          },
          vendor.fn,
        );
        expect(eur).toMatchObject({ decision: 'executed', estimatedCostUsd: 11 });
        const gbp = await guard.execute(
          {
            ...charge(root.token, 1000),
            params: { ...charge(root.token, 1000).params, currency: 'gbp' },
            cost: { amount: 10, currency: 'gbp' },
          },
          vendor.fn,
        );
        expect(gbp).toMatchObject({ decision: 'denied', code: 'currency_not_priced' });
        expect(vendor.calls).toBe(1);
      });
    });

    describe('rate limit', () => {
      it('allows perMinute calls a minute, not counting replays', async () => {
        const { guard, root, clock } = await setup({ rate: { perMinute: 3 } });
        const vendor = fakeVendor();
        const pay = (i: number) => guard.execute(charge(root.token, 100, { order: `ord_${i}` }), vendor.fn);
        for (const i of [1, 2, 3]) expect((await pay(i)).decision).toBe('executed');
        expect((await pay(1)).decision).toBe('replayed');
        expect((await pay(4)).code).toBe('rate_limited');
        clock.advance(60_000);
        expect((await pay(4)).decision).toBe('executed');
        expect(vendor.calls).toBe(4);
      });
    });

    describe('vault keys', () => {
      it('denies unknown, malformed, forged, revoked and expired keys', async () => {
        const { guard, root, clock } = await setup({ keyTtl: '1h' });
        const vendor = fakeVendor();
        expect((await guard.execute(charge('not-a-key', 100), vendor.fn)).code).toBe('key_unknown');
        const forged = root.token.slice(0, -1) + (root.token.endsWith('0') ? '1' : '0');
        expect((await guard.execute(charge(forged, 100), vendor.fn)).code).toBe('key_unknown');
        const other = await guard.keys.issueRoot({ policy: 'billing' });
        await guard.keys.revoke(other.id);
        expect((await guard.execute(charge(other.token, 100), vendor.fn)).code).toBe('key_revoked');
        clock.advance(HOUR);
        expect((await guard.execute(charge(root.token, 100), vendor.fn)).code).toBe('key_expired');
        expect(vendor.calls).toBe(0);
      });

      it('revoking a root key revokes every key derived from it, at once', async () => {
        const { guard, root } = await setup();
        const vendor = fakeVendor();
        const run = await guard.keys.derive(root.token, { runId: 'r' });
        const child = await guard.keys.derive(run.token, { name: 'sub-agent' });
        expect((await guard.execute(charge(child.token, 100), vendor.fn)).decision).toBe('executed');
        await guard.keys.revoke(root.id);
        for (const token of [root.token, run.token, child.token]) {
          expect((await guard.execute(charge(token, 200), vendor.fn)).code).toBe('key_revoked');
        }
        await expect(guard.keys.derive(root.token, { runId: 'later' })).rejects.toMatchObject({
          code: 'key_invalid',
        });
        expect(vendor.calls).toBe(1);
      });

      it('lets a derived key only narrow its parent', async () => {
        const { guard, root } = await setup({ caps: { perRun: 20 } });
        await expect(guard.keys.derive(root.token, { caps: { perRun: 21 } })).rejects.toMatchObject({
          code: 'narrowing_violation',
        });
        await expect(
          guard.keys.derive(root.token, { operations: ['stripe:POST /v1/payouts'] }),
        ).rejects.toMatchObject({
          code: 'narrowing_violation',
        });
        const refundsOnly = await guard.keys.derive(root.token, {
          operations: ['stripe:POST /v1/refunds'],
          caps: { perRun: 5 },
        });
        const vendor = fakeVendor();
        expect((await guard.execute(charge(refundsOnly.token, 100), vendor.fn)).code).toBe(
          'operation_not_allowed',
        );
        const refund = (cents: number) =>
          guard.execute(
            {
              key: refundsOnly.token,
              vendor: 'stripe',
              method: 'POST',
              path: '/v1/refunds',
              params: { amount: cents },
              cost: { amount: cents / 100, currency: 'usd' },
            },
            vendor.fn,
          );
        expect((await refund(400)).decision).toBe('executed');
        expect((await refund(200)).code).toBe('cap_exceeded');
      });

      it('caps a derived key expiry at its parent expiry', async () => {
        const { guard, root, clock } = await setup({ keyTtl: '1h' });
        const run = await guard.keys.derive(root.token, { ttl: '2h' });
        expect(run.expiresAt).toBe(clock.now() + HOUR);
      });
    });

    describe('policy', () => {
      it('denies operations that are not allowed and params that break a rule, without calling the vendor', async () => {
        const { guard, root } = await setup();
        const vendor = fakeVendor();
        const base = charge(root.token, 100);
        const cases: [ExecuteRequest, string, RegExp][] = [
          [{ ...base, path: '/v1/payouts' }, 'operation_not_allowed', /POST \/v1\/payouts is not allowed/],
          [{ ...base, method: 'DELETE', path: '/v1/charges/ch_1' }, 'operation_not_allowed', /DELETE/],
          [charge(root.token, 100_001), 'param_not_allowed', /amount 100001 is above the maximum 100000/],
          [
            { ...base, params: { ...base.params, currency: 'jpy' } },
            'param_not_allowed',
            /currency "jpy" is not one of/,
          ],
          [
            { ...base, params: { ...base.params, customer: undefined } },
            'param_not_allowed',
            /customer is required/,
          ],
          [
            charge(root.token, 100, { order: 'x_1' }),
            'param_not_allowed',
            /metadata\.order_id "x_1" does not start with "ord_"/,
          ],
          [{ ...base, params: { ...base.params, amount: 'lots' } }, 'param_not_allowed', /must be a number/],
        ];
        for (const [request, code, message] of cases) {
          const d = await guard.execute(request, vendor.fn);
          expect(d.code).toBe(code);
          expect(d.message).toMatch(message);
        }
        expect(
          (
            await guard.execute(
              { ...base, method: 'GET', path: '/v1/charges/ch_1', cost: undefined },
              vendor.fn,
            )
          ).decision,
        ).toBe('executed');
        expect(vendor.calls).toBe(1);
      });
    });

    describe('approvals', () => {
      it('asks for approval above the threshold, reserves and calls nothing, and proceeds once approved', async () => {
        const { guard, root } = await setup({ approval: { above: 100 }, caps: { perKey: 1000 } });
        const vendor = fakeVendor();
        const asked = await guard.execute(charge(root.token, 20_000), vendor.fn);
        expect(asked).toMatchObject({ decision: 'needs_approval', code: 'approval_required' });
        if (asked.decision !== 'needs_approval') throw new Error('unreachable');
        expect(vendor.calls).toBe(0);
        expect((await guard.spend(root.id)).lifetimeUsd).toBe(0);
        expect((await guard.execute(charge(root.token, 20_000), vendor.fn)).decision).toBe('needs_approval');
        expect((await guard.execute(charge(root.token, 5000), vendor.fn)).decision).toBe('executed'); // below: no approval
        await guard.approvals.approve(asked.approvalId, { by: 'ops@example.com' });
        const retried = await guard.execute(charge(root.token, 20_000), vendor.fn);
        expect(retried.decision).toBe('executed');
        expect(vendor.calls).toBe(2);
        const rows = await guard.audit.list();
        expect(rows.find((r) => r.code === 'approval_granted')?.message).toContain('ops@example.com');
      });

      it('denies the retried call once a human says no', async () => {
        const { guard, root } = await setup({ approval: { operations: ['stripe:POST /v1/refunds'] } });
        const vendor = fakeVendor();
        const refund: ExecuteRequest = {
          key: root.token,
          vendor: 'stripe',
          method: 'POST',
          path: '/v1/refunds',
          params: { charge: 'ch_1' },
          cost: { amount: 1, currency: 'usd' },
        };
        const asked = await guard.execute(refund, vendor.fn);
        if (asked.decision !== 'needs_approval')
          throw new Error(`expected needs_approval, got ${asked.decision}`);
        expect((await guard.execute(charge(root.token, 100), vendor.fn)).decision).toBe('executed'); // other op: no approval
        const denied = await guard.approvals.deny(asked.approvalId, { reason: 'not a real customer' });
        expect(denied.state).toBe('denied');
        expect(await guard.execute(refund, vendor.fn)).toMatchObject({
          decision: 'denied',
          code: 'approval_denied',
        });
        await expect(guard.approvals.approve('apr_nope')).rejects.toMatchObject({ code: 'approval_unknown' });
        expect(vendor.calls).toBe(1);
      });
    });

    describe('alerts', () => {
      it('fires each threshold once per window, before the vendor is called', async () => {
        const { guard, root, alerts, clock } = await setup({ caps: { perDay: 10 }, alerts: [50, 80, 100] });
        const seen: string[] = [];
        let n = 0;
        const pay = (cents: number) =>
          guard.execute(charge(root.token, cents, { order: `ord_${n++}` }), async () => {
            seen.push(`call@${alerts.length}`);
            return { ok: true };
          });
        await pay(400); // 40 %
        expect(alerts).toHaveLength(0);
        await pay(500); // 90 %: crosses 50 and 80 before this call
        expect(alerts.map((a) => a.thresholdPercent)).toEqual([50, 80]);
        expect(seen).toEqual(['call@0', 'call@2']);
        await pay(50); // 95 %
        await pay(50); // 100 %
        expect(alerts.map((a) => a.thresholdPercent)).toEqual([50, 80, 100]);
        expect(alerts[2]).toMatchObject({ window: 'daily', capUsd: 10, usedUsd: 10, keyId: root.id });
        clock.set('2026-11-25T09:00:00.000Z');
        await pay(600);
        expect(alerts.map((a) => a.thresholdPercent)).toEqual([50, 80, 100, 50]);
      });
    });

    describe('audit log', () => {
      it('writes one row per decision with attribution, cost and upstream fields, chained by hash', async () => {
        const { guard, root } = await setup({ caps: { perKey: 6 } });
        const run = await guard.keys.derive(root.token, { runId: 'run-7' });
        const vendor = fakeVendor();
        const attributed = {
          runId: 'run-7',
          agentId: 'billing-agent',
          toolCallId: 'call_1',
          traceId: 'trace-1',
        };
        await guard.execute(charge(run.token, 500, attributed), vendor.fn, {
          settle: () => ({ upstreamStatus: 200, upstreamObjectId: 'ch_1' }),
        });
        await guard.execute(charge(run.token, 500, attributed), vendor.fn);
        await guard.execute(charge(run.token, 500, { ...attributed, order: 'ord_2' }), vendor.fn);
        const rows = await guard.audit.list();
        expect(rows.map((r) => [r.decision, r.code])).toEqual([
          ['executed', 'executed'],
          ['replayed', 'replayed'],
          ['denied', 'cap_exceeded'],
        ]);
        expect(rows[0]).toMatchObject({
          seq: 1,
          keyId: run.id,
          rootKeyId: root.id,
          runId: 'run-7',
          agentId: 'billing-agent',
          toolCallId: 'call_1',
          traceId: 'trace-1',
          vendor: 'stripe',
          operation: 'POST /v1/charges',
          estimatedCostUsd: 5,
          actualCostUsd: 5,
          amount: 5,
          currency: 'usd',
          upstreamStatus: 200,
          upstreamObjectId: 'ch_1',
        });
        expect(rows[0]?.idempotencyKey).toMatch(/^[0-9a-f]{64}$/);
        expect(typeof rows[0]?.latencyMs).toBe('number');
        expect(typeof rows[0]?.time).toBe('number');
        expect(rows[1]?.prevHash).toBe(rows[0]?.hash);
        expect(await guard.audit.verify()).toEqual({ ok: true, rows: 3 });
      });

      if (options.tamperAudit) {
        const tamper = options.tamperAudit;
        it.each(['edit', 'delete'] as const)('verify names the first %sed row', async (how) => {
          const { guard, root, store } = await setup();
          const vendor = fakeVendor();
          for (let i = 0; i < 5; i++) await guard.execute(charge(root.token, 100 + i), vendor.fn);
          await tamper(store, 3, how);
          const verdict = await guard.audit.verify();
          expect(verdict).toMatchObject({
            ok: false,
            seq: 3,
            problem: how === 'edit' ? 'edited' : 'missing',
          });
        });
      }
    });

    /**
     * A $5 refund that needs a human's yes, driven on the store directly with plans built like
     * the guard's (no caps or rates unless a test adds them).
     */
    async function approvalSetup() {
      const { store, root, clock } = await setup();
      const refund = ({
        fingerprint = 'fp_refund',
        costMicros = 5_000_000,
        ...changes
      }: Partial<BeginPlan> = {}): BeginPlan => {
        const now = clock.now();
        return {
          now,
          chain: [root.id],
          keyId: root.id,
          checkpointId: 'cp_refund',
          checkpointKey: 'refund',
          fingerprint,
          leaseMs: 30_000,
          dedupWindowMs: HOUR,
          vendorIdempotent: true,
          costMicros,
          windows: [],
          rates: [],
          approval: {
            id: 'apr_refund',
            checkpointId: 'cp_refund',
            keyId: root.id,
            vendor: 'stripe',
            operation: 'POST /v1/refunds',
            costMicros,
            fingerprint,
            account: 'acct_1',
            recipient: 'ch_1 "refunded" to Zoë, 日本',
            ttlMs: HOUR,
            createdAt: now,
          },
          audit: { ...chargeAudit(root.id, 'refund', now), operation: 'POST /v1/refunds' },
          ...changes,
        };
      };
      const decide = (verdict: 'approved' | 'denied') => {
        const now = clock.now();
        return store.decideApproval({
          id: 'apr_refund',
          verdict,
          by: 'ops@example.com',
          reason: null,
          now,
          audit: (a) => ({
            ...chargeAudit(a.keyId, 'refund', now),
            decision: verdict === 'approved' ? 'approved' : 'denied',
            code: verdict === 'approved' ? 'approval_granted' : 'approval_denied',
            message: `approval ${a.id} ${verdict}`,
          }),
        });
      };
      /** Begin, expect needs_approval, and return the message of the audit row saying why. */
      const askedAgain = async (plan: BeginPlan) => {
        expect(await store.begin(plan)).toEqual({ kind: 'needs_approval', approvalId: 'apr_refund' });
        const row = (await store.readAudit()).at(-1);
        expect(row).toMatchObject({ decision: 'needs_approval', code: 'approval_required' });
        return row?.message;
      };
      const proceed = async (plan: BeginPlan) => {
        const begun = await store.begin(plan);
        if (begun.kind !== 'proceed') throw new Error(`expected proceed, got ${JSON.stringify(begun)}`);
        return begun.checkpoint;
      };
      return { store, root, clock, refund, decide, askedAgain, proceed };
    }

    describe('approvals bind to one call', () => {
      it('admits the approved call once and marks the approval used; the next attempt asks again', async () => {
        const { store, root, clock, refund, decide, askedAgain, proceed } = await approvalSetup();
        const createdAt = clock.now();
        expect(await askedAgain(refund())).toBe('approval apr_refund is needed before this call');
        expect(await store.getApproval('apr_refund')).toEqual({
          id: 'apr_refund',
          checkpointId: 'cp_refund',
          keyId: root.id,
          vendor: 'stripe',
          operation: 'POST /v1/refunds',
          costMicros: 5_000_000,
          fingerprint: 'fp_refund',
          account: 'acct_1',
          recipient: 'ch_1 "refunded" to Zoë, 日本',
          ttlMs: HOUR,
          usedAt: null,
          state: 'pending',
          createdAt,
          decidedAt: null,
          decidedBy: null,
          reason: null,
        });
        clock.advance(1000);
        await decide('approved');
        clock.advance(1000);
        const checkpoint = await proceed(refund());
        const usedAt = clock.now();
        expect(await store.getApproval('apr_refund')).toMatchObject({
          state: 'approved',
          decidedAt: createdAt + 1000,
          usedAt,
        });
        // The vendor surely failed: a new attempt is another call, and needs its own yes.
        await store.finish({
          now: usedAt,
          checkpointId: checkpoint.id,
          fencingToken: checkpoint.fencingToken,
          outcome: 'failed',
          error: { message: 'declined', status: 402 },
          audit: chargeAudit(root.id, 'refund', usedAt),
        });
        clock.advance(1000);
        expect(await askedAgain(refund())).toBe(
          `approval apr_refund was already used at ${new Date(usedAt).toISOString()}; a new approval is needed`,
        );
        expect(await store.getApproval('apr_refund')).toMatchObject({
          state: 'pending',
          fingerprint: 'fp_refund',
          createdAt: clock.now(),
          decidedAt: null,
          decidedBy: null,
          usedAt: null,
        });
        await decide('approved');
        expect((await proceed(refund())).generation).toBe(2);
      });

      it('asks again once the approval expired: good until decidedAt + ttlMs, not at it', async () => {
        const { store, clock, refund, decide, askedAgain, proceed } = await approvalSetup();
        await askedAgain(refund());
        const decidedAt = clock.now();
        await decide('approved');
        clock.advance(HOUR);
        expect(await askedAgain(refund())).toBe(
          `approval apr_refund expired at ${new Date(decidedAt + HOUR).toISOString()}; a new approval is needed`,
        );
        expect(await store.getApproval('apr_refund')).toMatchObject({
          state: 'pending',
          decidedAt: null,
          usedAt: null,
        });
        await decide('approved');
        clock.advance(HOUR - 1);
        await proceed(refund());
        expect(await store.getApproval('apr_refund')).toMatchObject({ usedAt: clock.now() });
      });

      it('asks again for a call with other parameters under the same approval id', async () => {
        const { store, refund, decide, askedAgain } = await approvalSetup();
        await askedAgain(refund());
        await decide('approved');
        expect(await askedAgain(refund({ fingerprint: 'fp_other' }))).toBe(
          'approval apr_refund was given for a different call; a new approval is needed',
        );
        expect(await store.getCheckpoint('cp_refund')).toBeUndefined();
        expect(await store.getApproval('apr_refund')).toMatchObject({
          state: 'pending',
          fingerprint: 'fp_other',
        });
        // The record now waits for a yes to the other call; the first call is not admitted either.
        expect(await askedAgain(refund())).toBe('approval apr_refund is needed before this call');
      });

      it('asks again when the call costs more than was approved; a call within it goes through', async () => {
        const { store, refund, decide, askedAgain, proceed } = await approvalSetup();
        await askedAgain(refund());
        await decide('approved');
        expect(await askedAgain(refund({ costMicros: 7_500_000 }))).toBe(
          'approval apr_refund covers up to $5.00; this call is $7.50; a new approval is needed',
        );
        expect(await store.getApproval('apr_refund')).toMatchObject({
          state: 'pending',
          costMicros: 7_500_000,
        });
        await decide('approved');
        expect((await proceed(refund({ costMicros: 6_000_000 }))).reservedMicros).toBe(6_000_000);
      });

      it('leaves the approval unused when the rate limit or a cap denies the call', async () => {
        const { store, root, clock, refund, decide, askedAgain, proceed } = await approvalSetup();
        await askedAgain(refund());
        await decide('approved');
        const lifetime = (capMicros: number): CapWindow => ({
          id: `${root.id}:life`,
          keyId: root.id,
          label: 'key lifetime',
          capMicros,
          alerts: [],
          expiresAt: null,
        });
        const rates = [
          { id: `${root.id}:rate:1`, keyId: root.id, limit: 0, expiresAt: clock.now() + 60_000 },
        ];
        expect(await store.begin(refund({ windows: [lifetime(4_999_999)] }))).toMatchObject({
          kind: 'denied',
          code: 'cap_exceeded',
        });
        expect(await store.begin(refund({ rates }))).toMatchObject({ kind: 'denied', code: 'rate_limited' });
        expect(await store.getApproval('apr_refund')).toMatchObject({ state: 'approved', usedAt: null });
        await proceed(refund({ windows: [lifetime(5_000_000)] }));
        expect(await store.getApproval('apr_refund')).toMatchObject({ usedAt: clock.now() });
      });

      it('keeps a pending approval pending and a denied one denied', async () => {
        const { store, clock, refund, decide, askedAgain } = await approvalSetup();
        const createdAt = clock.now();
        await askedAgain(refund());
        clock.advance(1000);
        expect(await askedAgain(refund({ costMicros: 9_000_000 }))).toBe(
          'approval apr_refund is needed before this call',
        );
        expect(await store.getApproval('apr_refund')).toMatchObject({
          state: 'pending',
          createdAt,
          costMicros: 5_000_000,
        });
        await decide('denied');
        expect(await store.begin(refund())).toEqual({
          kind: 'denied',
          code: 'approval_denied',
          message: 'approval apr_refund was denied',
        });
        expect(await store.getApproval('apr_refund')).toMatchObject({ state: 'denied', usedAt: null });
      });
    });

    describe('audit head and anchors', () => {
      const AUDIT_KEY = 'conformance-audit-key';
      const bare: Store[] = [];
      afterEach(async () => {
        await Promise.all(bare.splice(0).map((s) => s.close().catch(() => {})));
      });

      async function bareStore(): Promise<Store> {
        const store = await factory();
        bare.push(store);
        return store;
      }

      /** Six rows appended straight to a fresh store, the head anchored under the audit key. */
      async function anchoredLog() {
        const store = await bareStore();
        for (let i = 1; i <= 6; i++) {
          await store.appendAudit({ ...chargeAudit('key_1', `k${i}`, 1_795_000_000_000 + i), amount: i });
        }
        const head = (await store.auditHead()) as AuditHead;
        await store.anchorAudit(auditAnchor(AUDIT_KEY, head.seq, head.hash));
        // The head first, as the guard reads them: rows appended in between chain on from it.
        const verify = async () => {
          const current = await store.auditHead();
          return verifyAuditChain(await store.readAudit(), current, { anchorKey: AUDIT_KEY });
        };
        expect(await verify()).toEqual({ ok: true, rows: 6 });
        return { store, verify };
      }

      it('is undefined before the first row, then moves with every append, in the same step', async () => {
        const { store, root, clock, refund, decide, proceed } = await approvalSetup();
        expect(await store.auditHead()).toBeUndefined();
        const headIsLastRow = async (code: string) => {
          const rows = await store.readAudit();
          const last = rows.at(-1) as AuditRow;
          expect(last.code).toBe(code);
          expect(await store.auditHead()).toEqual({ seq: rows.length, hash: last.hash, anchor: null });
        };
        await store.appendAudit(chargeAudit(root.id, 'manual', clock.now()));
        await headIsLastRow('executed');
        await store.begin(refund({ costMicros: -1 }));
        await headIsLastRow('amount_invalid');
        await store.begin(refund());
        await headIsLastRow('approval_required');
        await decide('approved');
        await headIsLastRow('approval_granted');
        const checkpoint = await proceed(refund());
        await headIsLastRow('approval_granted'); // proceeding writes no row
        const settle = (fencingToken: number) =>
          store.finish({
            now: clock.now(),
            checkpointId: checkpoint.id,
            fencingToken,
            outcome: 'completed',
            audit: { ...chargeAudit(root.id, 'refund', clock.now()), code: `settled_${fencingToken}` },
          });
        await settle(checkpoint.fencingToken);
        await headIsLastRow(`settled_${checkpoint.fencingToken}`);
        expect((await store.begin(refund())).kind).toBe('replay');
        await headIsLastRow('replayed');
        expect((await settle(checkpoint.fencingToken)).ok).toBe(false); // a stale settlement is recorded too
        await headIsLastRow(`settled_${checkpoint.fencingToken}`);
        expect((await store.readAudit()).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      });

      it('keeps an anchor only when it moves forward, and leaves checking it to verify', async () => {
        const store = await bareStore();
        await store.anchorAudit(auditAnchor(AUDIT_KEY, 1, 'a'.repeat(64)));
        expect(await store.auditHead()).toBeUndefined(); // nothing to anchor yet
        for (let i = 1; i <= 3; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
        const rows = await store.readAudit();
        const hashes = rows.map((r) => r.hash);
        const second = auditAnchor(AUDIT_KEY, 2, hashes[1] as string);
        await store.anchorAudit(second);
        expect(await store.auditHead()).toEqual({ seq: 3, hash: hashes[2], anchor: second });
        await store.anchorAudit(auditAnchor(AUDIT_KEY, 1, hashes[0] as string));
        await store.anchorAudit(auditAnchor('another-key', 2, hashes[1] as string));
        expect((await store.auditHead())?.anchor).toEqual(second);
        expect(verifyAuditChain(rows, await store.auditHead(), { anchorKey: AUDIT_KEY })).toEqual({
          ok: true,
          rows: 3,
        });
        // The store holds no key, so it records a forged anchor; verify, given the key, refuses it.
        const forged = { seq: 3, hash: hashes[2] as string, hmac: 'f'.repeat(64) };
        await store.anchorAudit(forged);
        const head = await store.auditHead();
        expect(head?.anchor).toEqual(forged);
        expect(verifyAuditChain(rows, head)).toEqual({ ok: true, rows: 3 });
        expect(verifyAuditChain(rows, head, { anchorKey: AUDIT_KEY })).toMatchObject({
          ok: false,
          seq: 3,
          problem: 'anchor_mismatch',
        });
      });

      if (options.tamperAudit) {
        const tamper = options.tamperAudit;
        const attacks: [string, (store: Store) => Promise<void>, AuditProblem, number][] = [
          ['an edited row', (s) => tamper(s, 3, 'edit'), 'edited', 3],
          ['a deleted middle row', (s) => tamper(s, 3, 'delete'), 'missing', 3],
          ['the deleted last row', (s) => tamper(s, 6, 'delete'), 'truncated', 6],
          [
            'every row deleted',
            async (s) => {
              for (let seq = 1; seq <= 6; seq++) await tamper(s, seq, 'delete');
            },
            'truncated',
            1,
          ],
          ['two rows swapped', (s) => tamper(s, 3, 'swap'), 'reordered', 3],
        ];
        it.each(attacks)('verify names %s', async (_attack, attack, problem, seq) => {
          const { store, verify } = await anchoredLog();
          await attack(store);
          const verdict = await verify();
          expect(verdict).toMatchObject({ ok: false, problem, seq });
          expect(verdict.ok === false && verdict.message).toContain(`${seq}`);
        });

        it('numbers the next row after the head, not after the last row left', async () => {
          const { store, verify } = await anchoredLog();
          const deleted = (await store.readAudit()).at(-1) as AuditRow;
          await tamper(store, 6, 'delete');
          expect(await store.appendAudit(chargeAudit('key_1', 'k7', 1_795_000_000_007))).toMatchObject({
            seq: 7,
          });
          // Read back: a store may link a row after the step that appended it.
          const next = (await store.readAudit({ afterSeq: 6 }))[0] as AuditRow;
          expect(next).toMatchObject({ seq: 7, prevHash: deleted.hash });
          expect(await store.auditHead()).toMatchObject({ seq: 7, hash: next.hash });
          expect(await verify()).toMatchObject({ ok: false, problem: 'missing', seq: 6 });
        });
      }

      if (options.rewriteAudit) {
        const rewrite = options.rewriteAudit;
        it('verify names a chain rewritten from its first row, head included, by its anchor', async () => {
          const { store, verify } = await anchoredLog();
          const anchor = ((await store.auditHead()) as AuditHead).anchor;
          const forged: AuditRow[] = [];
          for (const { seq, prevHash: _p, hash: _h, ...entry } of await store.readAudit()) {
            forged.push(chainAudit(seq === 2 ? { ...entry, amount: 9999 } : entry, forged.at(-1)));
          }
          const last = forged.at(-1) as AuditRow;
          await rewrite(store, forged, { seq: last.seq, hash: last.hash, anchor });
          // Without the key the rewrite holds together: every link and the head agree.
          expect(verifyAuditChain(await store.readAudit(), await store.auditHead())).toEqual({
            ok: true,
            rows: 6,
          });
          const kept = await verify();
          expect(kept).toMatchObject({ ok: false, seq: 6, problem: 'anchor_mismatch' });
          expect(kept.ok === false && kept.message).toContain('does not match its anchor');
          // Re-anchoring the forged head takes the key; one made with any other key is refused.
          const reanchored = auditAnchor('guessed-key', last.seq, last.hash);
          await rewrite(store, forged, { seq: last.seq, hash: last.hash, anchor: reanchored });
          const guessed = await verify();
          expect(guessed).toMatchObject({ ok: false, seq: 6, problem: 'anchor_mismatch' });
          expect(guessed.ok === false && guessed.message).toContain('not signed by the audit key');
        });
      }
    });

    describe('pending checkpoints', () => {
      async function pendingSetup() {
        const { store, root, t, begin } = await directStore();
        const finish = (checkpoint: CheckpointRecord, outcome: FinishInput['outcome']) =>
          store.finish({
            now: checkpoint.startedAt,
            checkpointId: checkpoint.id,
            fencingToken: checkpoint.fencingToken,
            outcome,
            audit: chargeAudit(root.id, checkpoint.key, checkpoint.startedAt),
          });
        const pending = async (now: number, limit?: number) =>
          (await store.listPending(limit === undefined ? { now } : { now, limit })).map((c) => c.id);
        return { store, t, begin, finish, pending };
      }

      it('lists unknown outcomes and ended leases, oldest first and up to the limit; not settled or live ones', async () => {
        const { store, t, begin, finish, pending } = await pendingSetup();
        // Begun out of order, so the order is the store's doing.
        await begin('lapsed_late', t + 5);
        await finish(await begin('unknown', t, HOUR), 'unknown');
        await begin('lapsed', t + 1);
        await finish(await begin('completed', t + 2), 'completed');
        await finish(await begin('failed', t + 3), 'failed');
        await begin('live', t + 4, HOUR);
        const now = t + 5 + 1000; // lapsed_late's lease ends exactly now
        expect(await pending(now)).toEqual(['cp_unknown', 'cp_lapsed', 'cp_lapsed_late']);
        expect(await pending(now, 2)).toEqual(['cp_unknown', 'cp_lapsed']);
        expect(await pending(now - 1)).toEqual(['cp_unknown', 'cp_lapsed']);
        expect(await pending(t)).toEqual(['cp_unknown']);
        const [unknown] = await store.listPending({ now, limit: 1 });
        expect(unknown).toEqual(await store.getCheckpoint('cp_unknown'));
        expect(unknown).toMatchObject({
          state: 'in_progress',
          outcomeUnknown: true,
          reservedMicros: 1_000_000,
          startedAt: t,
          vendor: 'stripe',
          operation: 'POST /v1/charges',
        });
      });

      it('drops a checkpoint once it is settled, and while a takeover holds its lease', async () => {
        const { store, t, begin, finish, pending } = await pendingSetup();
        const unknown = await begin('unknown', t, HOUR);
        await finish(unknown, 'unknown');
        await begin('lapsed', t + 1);
        const now = t + 2000;
        expect(await pending(now)).toEqual(['cp_unknown', 'cp_lapsed']);
        await finish(unknown, 'completed');
        expect(await pending(now)).toEqual(['cp_lapsed']);
        const resumed = await begin('lapsed', now);
        expect(resumed).toMatchObject({ startedAt: t + 1, leaseUntil: now + 1000, vendor: 'stripe' });
        expect(await pending(now)).toEqual([]);
        expect(await pending(now + 1000)).toEqual(['cp_lapsed']);
        expect((await finish(resumed, 'failed')).ok).toBe(true);
        expect(await pending(now + 1000)).toEqual([]);
        expect(await store.getCheckpoint('cp_lapsed')).toMatchObject({ state: 'failed', vendor: 'stripe' });
      });

      it('guard.pending() lists an unknown outcome and guard.reconcile() settles or releases it, audited', async () => {
        const { guard, root, clock } = await setup();
        const lost = async () => {
          throw new VendorCallError('socket hang up', { outcome: 'unknown' });
        };
        await guard.execute(charge(root.token, 400, { order: 'ord_a' }), lost);
        clock.advance(1000); // oldest first needs two start times
        await guard.execute(charge(root.token, 900, { order: 'ord_b' }), lost);
        const pending = await guard.pending();
        expect(pending.map((p) => [p.reservedUsd, p.outcomeUnknown, p.operation])).toEqual([
          [4, true, 'POST /v1/charges'],
          [9, true, 'POST /v1/charges'],
        ]);
        expect((await guard.spend(root.id)).lifetimeUsd).toBe(13);
        const [a, b] = pending.map((p) => p.checkpointId) as [string, string];
        await guard.reconcile(a, { outcome: 'executed', costUsd: 3.5, objectId: 'ch_a', by: 'ops' });
        await guard.reconcile(b, { outcome: 'failed', by: 'ops' });
        expect(await guard.pending()).toEqual([]);
        expect((await guard.spend(root.id)).lifetimeUsd).toBe(3.5);
        const rows = (await guard.audit.list()).filter((r) => r.code === 'reconciled');
        expect(rows.map((r) => [r.decision, r.actualCostUsd, r.upstreamObjectId])).toEqual([
          ['executed', 3.5, 'ch_a'],
          ['failed', null, null],
        ]);
        expect((await guard.audit.verify()).ok).toBe(true);
        await expect(guard.reconcile(a, { outcome: 'failed', by: 'ops' })).rejects.toThrow(/no pending call/);
      });
    });

    describe('audit queries', () => {
      const T = 1_795_000_000_000;
      const DECISIONS = ['executed', 'denied', 'replayed', 'needs_approval', 'failed', 'approved'] as const;

      /**
       * Fourteen rows across three keys of two roots, two runs, every decision, two vendors and
       * trace ids as adapters write them. Row 8's clock ran behind (time below row 7's), so time
       * is not seq.
       */
      function fixture(): AuditEntry[] {
        return Array.from({ length: 14 }, (_, i) => {
          const seq = i + 1;
          const keyId = ['key_a', 'key_b', 'key_c'][i % 3] as string;
          const decision = DECISIONS[i % DECISIONS.length] as (typeof DECISIONS)[number];
          return {
            ...chargeAudit(keyId, `k${seq}`, seq === 8 ? T + 6500 : T + seq * 1000),
            rootKeyId: keyId === 'key_c' ? 'root_2' : 'root_1',
            runId: [null, 'run-1', 'run-2', 'run-1'][i % 4] as string | null,
            decision,
            // The denials (seq 2, 8, 14) alternate between two codes.
            code: decision === 'denied' ? (i % 12 === 1 ? 'cap_exceeded' : 'key_revoked') : decision,
            vendor: ['stripe', 'twilio', 'stripe', null, 'twilio'][i % 5] as string | null,
            traceId: ['trace_abc', 'trace_abc;group=g1', 'trace_ab', null, 'trace_abcd', 'a1;thread=t'][
              i % 6
            ] as string | null,
          };
        });
      }

      /** The reference: which seqs of the fixture match, in the test's own words. */
      function expected(entries: AuditEntry[], query: AuditQuery): number[] {
        const decisions =
          query.decision === undefined
            ? undefined
            : ([] as string[]).concat(query.decision as string | string[]);
        const seqs: number[] = [];
        entries.forEach((e, i) => {
          const seq = i + 1;
          if (query.afterSeq !== undefined && seq <= query.afterSeq) return;
          if (query.beforeSeq !== undefined && seq >= query.beforeSeq) return;
          if (query.keyId !== undefined && e.keyId !== query.keyId) return;
          if (query.rootKeyId !== undefined && e.rootKeyId !== query.rootKeyId) return;
          if (query.runId !== undefined && e.runId !== query.runId) return;
          if (decisions !== undefined && !decisions.includes(e.decision)) return;
          if (query.code !== undefined && e.code !== query.code) return;
          if (query.vendor !== undefined && e.vendor !== query.vendor) return;
          if (query.traceId !== undefined) {
            const t = e.traceId;
            if (
              t === null ||
              (t !== query.traceId && t.slice(0, query.traceId.length + 1) !== `${query.traceId};`)
            )
              return;
          }
          if (query.fromTime !== undefined && e.time < query.fromTime) return;
          if (query.toTime !== undefined && e.time >= query.toTime) return;
          seqs.push(seq);
        });
        return seqs;
      }

      async function loggedStore() {
        const store = await factory();
        const entries = fixture();
        for (const entry of entries) await store.appendAudit(entry);
        const seqs = async (query: AuditQuery) => (await store.readAudit(query)).map((r) => r.seq);
        return { store, entries, seqs };
      }

      const FILTERS: [string, AuditQuery][] = [
        ['keyId', { keyId: 'key_a' }],
        ['rootKeyId', { rootKeyId: 'root_2' }],
        ['runId', { runId: 'run-1' }],
        ['one decision', { decision: 'denied' }],
        ['a list of decisions', { decision: ['replayed', 'failed'] }],
        ['code', { code: 'cap_exceeded' }],
        ['vendor', { vendor: 'twilio' }],
        ['traceId (itself, or followed by ;)', { traceId: 'trace_abc' }],
        ['fromTime (inclusive)', { fromTime: T + 7000 }],
        ['toTime (exclusive)', { toTime: T + 7000 }],
        ['a time range', { fromTime: T + 6000, toTime: T + 7000 }],
        ['keyId and decision', { keyId: 'key_b', decision: ['denied', 'executed', 'approved'] }],
        [
          'rootKeyId, vendor and time',
          { rootKeyId: 'root_1', vendor: 'stripe', fromTime: T + 2000, toTime: T + 12_000 },
        ],
        ['runId and code', { runId: 'run-1', code: 'key_revoked' }],
        ['traceId and keyId', { traceId: 'trace_abc', keyId: 'key_b' }],
        ['seq bounds and a filter', { afterSeq: 2, beforeSeq: 12, keyId: 'key_c' }],
      ];

      it.each(FILTERS)('filters by %s, in seq order', async (_name, query) => {
        const { store, entries, seqs } = await loggedStore();
        const want = expected(entries, query);
        expect(want.length).toBeGreaterThan(0); // each filter is seen to exclude and to include
        expect(want.length).toBeLessThan(entries.length);
        expect(await seqs(query)).toEqual(want);
        for (const row of await store.readAudit(query))
          expect(row).toMatchObject(entries[row.seq - 1] as AuditEntry);
        await store.close();
      });

      it('reads the exact rows the filters name, time bounds included', async () => {
        const { seqs } = await loggedStore();
        expect(await seqs({ keyId: 'key_a' })).toEqual([1, 4, 7, 10, 13]);
        expect(await seqs({ decision: ['replayed', 'failed'] })).toEqual([3, 5, 9, 11]);
        // Row 8 (time T + 6500) is inside the range although row 7 (T + 7000) is not.
        expect(await seqs({ fromTime: T + 6000, toTime: T + 7000 })).toEqual([6, 8]);
        expect(await seqs({ fromTime: T + 7000, toTime: T + 7001 })).toEqual([7]);
      });

      it('pages forwards and backwards without gaps or repeats, ending with an empty page', async () => {
        const { entries, seqs } = await loggedStore();
        for (const filter of [
          {},
          { rootKeyId: 'root_1' },
          { decision: ['denied', 'approved'] as Decision[] },
        ]) {
          const all = expected(entries, filter);
          const forwards: number[] = [];
          let after = 0;
          for (;;) {
            const page = await seqs({ ...filter, afterSeq: after, limit: 3 });
            expect(page.length).toBeLessThanOrEqual(3);
            if (page.length === 0) break;
            forwards.push(...page);
            after = page.at(-1) as number;
          }
          expect(forwards).toEqual(all);
          const backwards: number[] = [];
          let before = Number.MAX_SAFE_INTEGER;
          for (;;) {
            const page = await seqs({ ...filter, beforeSeq: before, limit: 3 });
            expect(page).toEqual([...page].sort((a, b) => a - b)); // seq order on every page
            if (page.length === 0) break;
            backwards.unshift(...page);
            before = page[0] as number;
          }
          expect(backwards).toEqual(all);
        }
        // A backwards page is the newest matching rows below beforeSeq, above afterSeq.
        expect(await seqs({ beforeSeq: 10, limit: 3 })).toEqual([7, 8, 9]);
        expect(await seqs({ afterSeq: 7, beforeSeq: 10, limit: 5 })).toEqual([8, 9]);
        expect(await seqs({ keyId: 'key_a', beforeSeq: 10, limit: 2 })).toEqual([4, 7]);
      });

      it('finds a trace by its id: the id itself or followed by ;, exactly, never as a pattern', async () => {
        const store = await factory();
        const traceIds = [
          /* 1 */ 'trace_abc',
          /* 2 */ 'trace_abc;group=grp_1', // OpenAI Agents
          /* 3 */ 'trace_ab',
          /* 4 */ 'trace_abcd',
          /* 5 */ 'TRACE_ABC',
          /* 6 */ null,
          /* 7 */ 'a1b2;thread=th_1;resource=res_1', // Mastra
          /* 8 */ 'thread=th_2;resource=res_2', // Mastra, no trace
          /* 9 */ '100%_done\\x',
          /* 10 */ '100%_done\\x;group=g',
          /* 11 */ '100abc_done\\x',
          /* 12 */ 'trace_abc\\;x',
          /* 13 */ 'trace_abc;',
          /* 14 */ 'é中😀;group=g',
          /* 15 */ 'trace_abc group',
          /* 16 */ 'trace_abc;group=grp_2',
        ];
        for (const [i, traceId] of traceIds.entries()) {
          await store.appendAudit({ ...chargeAudit(i < 15 ? 'key_a' : 'key_b', `t${i}`, T + i), traceId });
        }
        const seqs = async (query: AuditQuery) => (await store.readAudit(query)).map((r) => r.seq);
        expect(await seqs({ traceId: 'trace_abc' })).toEqual([1, 2, 13, 16]);
        expect(await seqs({ traceId: 'trace_ab' })).toEqual([3]); // a near miss is no prefix
        expect(await seqs({ traceId: 'trace_abc;group=grp_1' })).toEqual([2]);
        expect(await seqs({ traceId: 'trace_abc;group=grp' })).toEqual([]);
        expect(await seqs({ traceId: 'a1b2' })).toEqual([7]);
        expect(await seqs({ traceId: 'a1b2;thread=th_1' })).toEqual([7]);
        expect(await seqs({ traceId: 'thread=th_2' })).toEqual([8]);
        expect(await seqs({ traceId: '100%_done\\x' })).toEqual([9, 10]);
        expect(await seqs({ traceId: 'trace_abc\\' })).toEqual([12]);
        expect(await seqs({ traceId: 'é中😀' })).toEqual([14]);
        // Nothing is a pattern: %, _, \, * and regular expressions are plain characters.
        for (const traceId of [
          '%',
          '_',
          '100%',
          '100%_done%',
          'trace%',
          'trace_a_c',
          'trace\\_abc',
          '.*',
          'trace_abc|x',
          'trace_abc.*',
          '*',
          '\\',
          'trace_abc;%',
        ])
          expect(await seqs({ traceId })).toEqual([]);
        expect(await seqs({ traceId: 'trace_abc', keyId: 'key_b' })).toEqual([16]);
        expect(await seqs({ traceId: 'trace_abc', afterSeq: 1, limit: 2 })).toEqual([2, 13]);
        expect(await seqs({ traceId: 'trace_abc', beforeSeq: 16, limit: 2 })).toEqual([2, 13]);
        await store.close();
      });

      it('answers an empty page: past the end, a limit of 0, an empty decision list, no match', async () => {
        const { seqs } = await loggedStore();
        expect(await seqs({ afterSeq: 14 })).toEqual([]);
        expect(await seqs({ beforeSeq: 1 })).toEqual([]);
        expect(await seqs({ limit: 0 })).toEqual([]);
        expect(await seqs({ decision: [] })).toEqual([]);
        expect(await seqs({ keyId: 'key_z' })).toEqual([]);
        expect(await seqs({ keyId: 'key_a', rootKeyId: 'root_2' })).toEqual([]);
        expect(await seqs({ fromTime: T + 9000, toTime: T + 9000 })).toEqual([]);
      });
    });

    describe('key listing', () => {
      const T = 1_795_000_000_000;

      function key(id: string, changes: Partial<KeyRecord> = {}): KeyRecord {
        const parentId = changes.parentId ?? null;
        const rootId = changes.rootId ?? id;
        return {
          id,
          parentId,
          rootId,
          chain: parentId === null ? [id] : [rootId, ...(parentId === rootId ? [] : [parentId]), id],
          policy: 'billing',
          narrowing: null,
          name: null,
          runId: null,
          createdAt: T,
          expiresAt: null,
          revokedAt: null,
          ...changes,
        };
      }

      /** Two roots and their keys, inserted out of id order; key_r1b is revoked, key_r2 expires at T + 1000. */
      async function keyedStore() {
        const store = await factory();
        const records = [
          key('key_r2', { expiresAt: T + 1000 }),
          key('key_r1c', { parentId: 'key_r1', rootId: 'key_r1', runId: 'run-2' }),
          key('key_r1', {}),
          key('key_r1a', { parentId: 'key_r1', rootId: 'key_r1', runId: 'run-1' }),
          key('key_r2a', { parentId: 'key_r2', rootId: 'key_r2', runId: 'run-1', expiresAt: T + 1000 }),
          key('key_r1b', { parentId: 'key_r1', rootId: 'key_r1', runId: 'run-1' }),
          key('key_r1aa', { parentId: 'key_r1a', rootId: 'key_r1', expiresAt: T + 5000 }),
        ];
        for (const record of records) await store.insertKey(record);
        await store.revokeKey('key_r1b', T + 10);
        const ids = async (query?: KeyQuery) => (await store.listKeys(query)).map((k) => k.id);
        return { store, ids };
      }

      it('lists every key by id without a query, and each filter alone', async () => {
        const { store, ids } = await keyedStore();
        const all = ['key_r1', 'key_r1a', 'key_r1aa', 'key_r1b', 'key_r1c', 'key_r2', 'key_r2a'];
        expect(await ids()).toEqual(all);
        expect(await ids({})).toEqual(all);
        expect(await ids({ rootId: 'key_r2' })).toEqual(['key_r2', 'key_r2a']);
        expect(await ids({ parentId: 'key_r1' })).toEqual(['key_r1a', 'key_r1b', 'key_r1c']);
        expect(await ids({ parentId: null })).toEqual(['key_r1', 'key_r2']);
        expect(await ids({ runId: 'run-1' })).toEqual(['key_r1a', 'key_r1b', 'key_r2a']);
        expect(await ids({ state: 'revoked', now: T })).toEqual(['key_r1b']);
        expect(await ids({ state: 'expired', now: T + 999 })).toEqual([]);
        // Expired once expiresAt <= now, as authentication judges it.
        expect(await ids({ state: 'expired', now: T + 1000 })).toEqual(['key_r2', 'key_r2a']);
        expect(await ids({ state: 'active', now: T + 1000 })).toEqual([
          'key_r1',
          'key_r1a',
          'key_r1aa',
          'key_r1c',
        ]);
        expect(await ids({ state: 'active', now: T + 5000 })).toEqual(['key_r1', 'key_r1a', 'key_r1c']);
        const [revoked] = await store.listKeys({ state: 'revoked', now: T });
        expect(revoked).toEqual({
          ...key('key_r1b', { parentId: 'key_r1', rootId: 'key_r1', runId: 'run-1' }),
          revokedAt: T + 10,
        });
        await store.close();
      });

      it('combines filters, and refuses a state without a time', async () => {
        const { store, ids } = await keyedStore();
        expect(await ids({ rootId: 'key_r1', runId: 'run-1', state: 'active', now: T })).toEqual(['key_r1a']);
        expect(await ids({ rootId: 'key_r1', state: 'expired', now: T + 5000 })).toEqual(['key_r1aa']);
        expect(await ids({ parentId: 'key_r1', runId: 'run-2' })).toEqual(['key_r1c']);
        expect(await ids({ rootId: 'key_r2', parentId: 'key_r1' })).toEqual([]);
        await expect(store.listKeys({ state: 'active' })).rejects.toThrow(TypeError);
        await store.close();
      });

      it('pages by id without gaps or repeats, ending with an empty page', async () => {
        const { store, ids } = await keyedStore();
        for (const filter of [{}, { rootId: 'key_r1' }, { state: 'active' as const, now: T + 1000 }]) {
          const all = await ids(filter);
          const paged: string[] = [];
          let after: string | undefined;
          for (;;) {
            const page = await ids({ ...filter, ...(after !== undefined && { afterId: after }), limit: 2 });
            expect(page.length).toBeLessThanOrEqual(2);
            if (page.length === 0) break;
            paged.push(...page);
            after = page.at(-1);
          }
          expect(paged).toEqual(all);
        }
        expect(await ids({ afterId: 'key_r2a' })).toEqual([]);
        expect(await ids({ afterId: 'key_r1b', limit: 2 })).toEqual(['key_r1c', 'key_r2']);
        expect(await ids({ limit: 0 })).toEqual([]);
        await store.close();
      });
    });

    // Prune's counts are matched, not equated: a backend may report more (Postgres also prunes counters).
    describe('retention', () => {
      const DAY = 24 * HOUR;

      it('prunes tokens of revoked, expired and missing keys; an active key keeps working', async () => {
        const { guard, root, store, clock } = await setup({ keyTtl: '1d' });
        const vendor = fakeVendor();
        const revokedRoot = await guard.keys.issueRoot({ policy: 'billing' });
        const revokedRun = await guard.keys.derive(root.token, { runId: 'revoked' });
        const shortRun = await guard.keys.derive(root.token, { runId: 'short', ttl: '1h' });
        const liveRun = await guard.keys.derive(root.token, { runId: 'live' });
        await guard.keys.revoke(revokedRoot.id);
        await guard.keys.revoke(revokedRun.id);
        await store.insertToken({
          id: 'deadbeefdeadbeef',
          keyId: 'key_missing',
          hash: 'a'.repeat(64),
          createdAt: 0,
        });
        const live = [root, liveRun].map((k) => tokenId(k.token));
        const dead = [revokedRoot, revokedRun, shortRun].map((k) => tokenId(k.token));
        // The guard checks each token once (a call its policy refuses), and so remembers it.
        for (const k of [revokedRoot, revokedRun, shortRun]) {
          const payout = { ...charge(k.token, 100), path: '/v1/payouts' };
          expect((await guard.execute(payout, vendor.fn)).code).toBe('operation_not_allowed');
        }
        clock.advance(HOUR - 1);
        expect(await store.prune({ now: clock.now() })).toMatchObject({
          tokens: 3,
          checkpoints: 0,
          approvals: 0,
        });
        expect(await store.getToken(tokenId(shortRun.token))).toBeDefined(); // expires only at +1h
        clock.advance(1);
        expect(await store.prune({ now: clock.now() })).toMatchObject({
          tokens: 1,
          checkpoints: 0,
          approvals: 0,
        });
        for (const id of [...dead, 'deadbeefdeadbeef']) expect(await store.getToken(id)).toBeUndefined();
        for (const id of live) expect(await store.getToken(id)).toMatchObject({ id });
        expect(await store.prune({ now: clock.now() })).toMatchObject({
          tokens: 0,
          checkpoints: 0,
          approvals: 0,
        });
        expect((await guard.execute(charge(liveRun.token, 100), vendor.fn)).decision).toBe('executed');

        // The guard that checked the tokens still refuses them; a fresh one (another process) does not know them.
        const fresh = createGuard({ policies: document({ keyTtl: '1d' }), store, now: clock.now });
        for (const [token, remembered] of [
          [revokedRoot.token, 'key_revoked'],
          [revokedRun.token, 'key_revoked'],
          [shortRun.token, 'key_expired'],
        ] as const) {
          expect((await guard.execute(charge(token, 100, { order: 'ord_x' }), vendor.fn)).code).toBe(
            remembered,
          );
          expect((await fresh.execute(charge(token, 100, { order: 'ord_x' }), vendor.fn)).code).toBe(
            'key_unknown',
          );
        }
        expect((await fresh.execute(charge(root.token, 100, { order: 'ord_y' }), vendor.fn)).decision).toBe(
          'executed',
        );
        expect(vendor.calls).toBe(2);
      });

      async function checkpointSetup() {
        const { store, root, t, plan, begin } = await directStore();
        const finish = (checkpoint: CheckpointRecord, outcome: FinishInput['outcome'], now: number) =>
          store.finish({
            now,
            checkpointId: checkpoint.id,
            fencingToken: checkpoint.fencingToken,
            outcome,
            audit: chargeAudit(root.id, checkpoint.key, now),
          });
        return { store, t, plan, begin, finish };
      }

      it('prunes checkpoints settled a dedup window ago; keeps in-progress, unknown and live ones', async () => {
        const { store, t, begin, finish } = await checkpointSetup();
        const done = await begin('done', t);
        await finish(done, 'completed', t);
        const failed = await begin('failed', t);
        await finish(failed, 'failed', t);
        await finish(await begin('unknown', t, DAY), 'unknown', t);
        await begin('lapsed', t); // in progress, its lease long over
        await finish(await begin('recent', t + 1), 'completed', t + 1);
        expect(await store.getCheckpoint('cp_done')).toMatchObject({ dedupWindowMs: HOUR });
        const kept = ['cp_unknown', 'cp_lapsed', 'cp_recent'];
        const before = await Promise.all(kept.map((id) => store.getCheckpoint(id)));
        const audit = await store.readAudit();

        expect(await store.prune({ now: t + HOUR - 1 })).toMatchObject({
          tokens: 0,
          checkpoints: 0,
          approvals: 0,
        });
        expect(await store.prune({ now: t + HOUR })).toMatchObject({
          tokens: 0,
          checkpoints: 2,
          approvals: 0,
        });
        expect(await store.getCheckpoint('cp_done')).toBeUndefined();
        expect(await store.getCheckpoint('cp_failed')).toBeUndefined();
        expect(await Promise.all(kept.map((id) => store.getCheckpoint(id)))).toEqual(before);
        // In progress is never pruned, however old: a reservation and an unknown outcome wait for a person.
        expect(await store.prune({ now: t + 30 * DAY })).toMatchObject({ checkpoints: 1 }); // cp_recent
        expect((await store.listPending({ now: t + 30 * DAY })).map((c) => c.id)).toEqual([
          'cp_lapsed',
          'cp_unknown',
        ]);
        expect(await store.readAudit()).toEqual(audit); // the audit log is never pruned
      });

      it('a checkpoint begun again after pruning gets a new generation and fence: a stale settlement cannot land', async () => {
        const { store, t, plan, begin, finish } = await checkpointSetup();
        const first = await begin('done', t);
        expect(first).toMatchObject({ generation: 1, fencingToken: 1 });
        await finish(first, 'completed', t);
        const live = plan('live', t);
        await finish(await begin('live', t), 'completed', t + HOUR);
        await store.prune({ now: t + HOUR });
        expect(await store.begin({ ...live, now: t + HOUR })).toMatchObject({ kind: 'replay' }); // its window is live
        const again = await begin('done', t + HOUR);
        expect(again.generation).toBeGreaterThan(first.generation);
        expect(again.fencingToken).toBeGreaterThan(first.fencingToken);
        // The first attempt's settlement arriving now is fenced off, not taken as this attempt's.
        expect(await finish(first, 'failed', t + HOUR)).toMatchObject({ ok: false, reason: 'fenced' });
        expect(await store.getCheckpoint('cp_done')).toMatchObject({
          state: 'in_progress',
          fencingToken: again.fencingToken,
        });
      });

      it('after pruning, the call runs again only once its dedup window has passed, under a new vendor key', async () => {
        const { guard, root, store, clock } = await setup({ dedupWindow: '1h' });
        const vendor = fakeVendor();
        expect((await guard.execute(charge(root.token, 500), vendor.fn)).decision).toBe('executed');
        clock.advance(HOUR - 1);
        expect(await store.prune({ now: clock.now() })).toMatchObject({ checkpoints: 0 });
        expect((await guard.execute(charge(root.token, 500), vendor.fn)).decision).toBe('replayed');
        clock.advance(1);
        expect(await store.prune({ now: clock.now() })).toMatchObject({ checkpoints: 1 });
        expect((await guard.execute(charge(root.token, 500), vendor.fn)).decision).toBe('executed');
        expect(vendor.calls).toBe(2);
        expect(vendor.keys[1]).not.toBe(vendor.keys[0]);
      });

      it('prunes approvals decided long enough ago that cannot admit a call; keeps pending and usable ones', async () => {
        const { store, root, clock } = await setup();
        const t = clock.now();
        const plan = (name: string, now: number, ttlMs = HOUR): BeginPlan =>
          checkpointPlan(root.id, name, now, {
            leaseMs: 30_000,
            approval: {
              id: `apr_${name}`,
              checkpointId: `cp_${name}`,
              keyId: root.id,
              vendor: 'stripe',
              operation: 'POST /v1/refunds',
              costMicros: 1_000_000,
              fingerprint: `fp_${name}`,
              account: null,
              recipient: null,
              ttlMs,
              createdAt: now,
            },
          });
        const ask = async (name: string, ttlMs?: number) =>
          expect((await store.begin(plan(name, t, ttlMs))).kind).toBe('needs_approval');
        const decide = (name: string, verdict: 'approved' | 'denied', now: number) =>
          store.decideApproval({
            id: `apr_${name}`,
            verdict,
            by: 'ops',
            reason: null,
            now,
            audit: (a) => ({
              ...chargeAudit(a.keyId, name, now),
              decision: verdict === 'approved' ? 'approved' : 'denied',
            }),
          });
        for (const name of ['pending', 'denied', 'cutoff', 'recent', 'used', 'expired']) await ask(name);
        await ask('usable', 2 * HOUR);
        await decide('denied', 'denied', t);
        await decide('cutoff', 'denied', t + 30 * 60_000);
        await decide('recent', 'denied', t + 30 * 60_000 + 1);
        await decide('used', 'approved', t);
        expect((await store.begin(plan('used', t + 1))).kind).toBe('proceed');
        await decide('expired', 'approved', t); // good until t + 1h
        await decide('usable', 'approved', t); // good until t + 2h
        const now = t + HOUR;
        const ids = ['pending', 'denied', 'cutoff', 'recent', 'used', 'expired', 'usable'].map(
          (n) => `apr_${n}`,
        );
        const before = await Promise.all(ids.map((id) => store.getApproval(id)));

        expect(await store.prune({ now })).toMatchObject({ approvals: 0 }); // kept unless asked
        expect(await store.prune({ now, approvalsOlderThanMs: 30 * 60_000 })).toMatchObject({
          tokens: 0,
          checkpoints: 0,
          approvals: 4,
        });
        const after = await Promise.all(ids.map((id) => store.getApproval(id)));
        const gone = ['apr_denied', 'apr_cutoff', 'apr_used', 'apr_expired'];
        ids.forEach((id, i) => {
          expect(after[i]).toEqual(gone.includes(id) ? undefined : before[i]);
        });
        // The usable approval still admits its call; the pruned denial is forgotten, so asked again.
        expect((await store.begin(plan('usable', now))).kind).toBe('proceed');
        expect((await store.begin(plan('denied', now))).kind).toBe('needs_approval');
      });

      it('lists approvals oldest first, by state and up to the limit, as getApproval reads them', async () => {
        const { store, root, clock } = await setup();
        const t = clock.now();
        const ask = async (name: string, createdAt: number) => {
          const plan = checkpointPlan(root.id, name, createdAt, {
            leaseMs: 30_000,
            approval: {
              id: `apr_${name}`,
              checkpointId: `cp_${name}`,
              keyId: root.id,
              vendor: 'stripe',
              operation: 'POST /v1/refunds',
              costMicros: 7_000_000,
              fingerprint: `fp_${name}`,
              account: null,
              recipient: null,
              ttlMs: HOUR,
              createdAt,
            },
          });
          expect((await store.begin(plan)).kind).toBe('needs_approval');
        };
        // Asked out of order (and two at the same instant), so the order is the store's doing.
        await ask('late', t + 3);
        await ask('b_same', t + 1);
        await ask('first', t);
        await ask('a_same', t + 1);
        await ask('denied', t + 2);
        await store.decideApproval({
          id: 'apr_denied',
          verdict: 'denied',
          by: 'ops',
          reason: 'no',
          now: t + 4,
          audit: (a) => ({ ...chargeAudit(a.keyId, 'denied', t + 4), decision: 'denied' }),
        });
        const ids = async (query?: Parameters<Store['listApprovals']>[0]) =>
          (await store.listApprovals(query)).map((a) => a.id);
        expect(await ids()).toEqual(['apr_first', 'apr_a_same', 'apr_b_same', 'apr_denied', 'apr_late']);
        expect(await ids({ state: 'pending' })).toEqual([
          'apr_first',
          'apr_a_same',
          'apr_b_same',
          'apr_late',
        ]);
        expect(await ids({ state: 'pending', limit: 2 })).toEqual(['apr_first', 'apr_a_same']);
        expect(await ids({ state: 'denied' })).toEqual(['apr_denied']);
        expect(await ids({ state: 'approved' })).toEqual([]);
        const [first] = await store.listApprovals({ limit: 1 });
        expect(first).toEqual(await store.getApproval('apr_first'));
        expect(first).toMatchObject({
          state: 'pending',
          costMicros: 7_000_000,
          keyId: root.id,
          createdAt: t,
        });
      });
    });

    describe('secrets', () => {
      it('never puts the vendor secret or a vault token in a decision, an error or an audit row', async () => {
        const { guard, root, store } = await setup({ caps: { perKey: 1000 } });
        process.env[SECRET_ENV] = SECRET;
        const run = await guard.keys.derive(root.token, { runId: 'leak' });
        const outputs: unknown[] = [];
        // A careless vendor function echoes the secret in its result and in its errors.
        outputs.push(
          await guard.execute(charge(run.token, 100), async (ctx) => ({ auth: `Bearer ${ctx.credential}` })),
        );
        outputs.push(
          await guard.execute(charge(run.token, 200), async (ctx) => {
            throw new VendorCallError(`401: invalid key ${ctx.credential}`, {
              outcome: 'failed',
              status: 401,
            });
          }),
        );
        outputs.push(
          await guard.execute(charge(run.token, 300), async (ctx) => {
            throw new Error(`connection reset while sending ${ctx.credential}`);
          }),
        );
        outputs.push(await guard.execute(charge(run.token, 100), async () => ({})));
        outputs.push(await guard.execute(charge(run.token, 100_001), async () => ({})));
        delete process.env[SECRET_ENV];
        const missing = await guard.execute(charge(run.token, 400), async (ctx) => ({
          auth: ctx.credential,
        }));
        expect(missing).toMatchObject({ decision: 'failed', code: 'vendor_error' });
        outputs.push(missing);
        outputs.push(await guard.keys.derive(`${run.token.slice(0, -1)}x`).catch((error: unknown) => error));
        const rows = await guard.audit.list();
        await store.close();
        outputs.push(await guard.execute(charge(run.token, 500), async (ctx) => ({ auth: ctx.credential })));
        const dump = JSON.stringify([outputs, rows], (_k, v) =>
          v instanceof Error ? { message: v.message, stack: v.stack, cause: String(v.cause) } : v,
        );
        expect(outputs).toHaveLength(8);
        expect(rows.length).toBeGreaterThanOrEqual(6);
        expect(dump).not.toContain(SECRET);
        expect(dump).not.toContain(root.token);
        expect(dump).not.toContain(run.token);
        expect(dump).toContain('[redacted]');
        expect(dump).toContain(`environment variable ${SECRET_ENV} is not set`);
      });
    });

    describe('money values', () => {
      const DAY = 24 * HOUR;
      const DAILY_CAP = 20_000_000;
      const BAD_AMOUNTS = [
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        -1,
        1.5,
        Number.MAX_SAFE_INTEGER + 1,
      ];

      /**
       * Drive the store directly, with plans built like the guard's: the root key's lifetime and
       * daily windows (capped, as `capWindows` makes them) and its per-minute rate.
       */
      async function direct() {
        const { store, root, clock } = await setup();
        const now = clock.now();
        const day = Math.floor(now / DAY);
        const minute = Math.floor(now / 60_000);
        const windows: CapWindow[] = [
          {
            id: `${root.id}:life`,
            keyId: root.id,
            label: 'key lifetime',
            capMicros: 50_000_000,
            alerts: [50],
            expiresAt: null,
          },
          {
            id: `${root.id}:day:${new Date(day * DAY).toISOString().slice(0, 10)}`,
            keyId: root.id,
            label: 'daily',
            capMicros: DAILY_CAP,
            alerts: [],
            expiresAt: (day + 1) * DAY,
          },
        ];
        const rates = [
          { id: `${root.id}:rate:${minute}`, keyId: root.id, limit: 1000, expiresAt: (minute + 2) * 60_000 },
        ];
        let calls = 0;
        const plan = (costMicros: number, changes: Partial<BeginPlan> = {}): BeginPlan => {
          const key = `money-${calls++}`;
          return checkpointPlan(root.id, key, now, {
            leaseMs: 30_000,
            dedupWindowMs: DAY,
            costMicros,
            windows,
            rates,
            ...changes,
          });
        };
        const settle = (checkpoint: CheckpointRecord, actualMicros: number): FinishInput => ({
          now,
          checkpointId: checkpoint.id,
          fencingToken: checkpoint.fencingToken,
          outcome: 'completed',
          result: '{"id":"ch_1"}',
          actualMicros,
          audit: chargeAudit(root.id, checkpoint.key, now),
        });
        const proceed = async (costMicros: number) => {
          const begun = await store.begin(plan(costMicros));
          if (begun.kind !== 'proceed') throw new Error(`expected proceed, got ${begun.kind}`);
          return begun.checkpoint;
        };
        /** Lifetime, daily and rate counters, in that order. */
        const counters = () => Promise.all([...windows, ...rates].map((c) => store.getCounter(c.id)));
        return { store, root, plan, settle, proceed, counters };
      }

      it('begin denies a NaN, infinite, negative, fractional or unsafe cost: nothing reserved, one audit row', async () => {
        const { store, plan, settle, proceed, counters } = await direct();
        await store.finish(settle(await proceed(1_000_000), 1_000_000));
        expect(await counters()).toEqual([1_000_000, 1_000_000, 1]);
        const seen = (await store.readAudit()).length;
        for (const bad of BAD_AMOUNTS) {
          const refused = plan(bad);
          expect(await store.begin(refused)).toEqual({
            kind: 'denied',
            code: 'amount_invalid',
            message: notMicros(`the reservation ${bad}`),
          });
          expect(await store.getCheckpoint(refused.checkpointId)).toBeUndefined();
        }
        expect(await counters()).toEqual([1_000_000, 1_000_000, 1]);
        const rows = (await store.readAudit()).slice(seen);
        expect(rows.map((r) => [r.decision, r.code, r.message])).toEqual(
          BAD_AMOUNTS.map((bad) => ['denied', 'amount_invalid', notMicros(`the reservation ${bad}`)]),
        );
      });

      it('begin denies a malformed cap before reserving anything', async () => {
        const { store, root, plan, counters } = await direct();
        const [life, daily] = plan(0).windows as [CapWindow, CapWindow];
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1, 0.5]) {
          const refused = plan(1_000, { windows: [life, { ...daily, capMicros: bad }] });
          expect(await store.begin(refused)).toEqual({
            kind: 'denied',
            code: 'amount_invalid',
            message: notMicros(`the daily cap ${bad} of key ${root.id}`),
          });
          expect(await store.getCheckpoint(refused.checkpointId)).toBeUndefined();
        }
        expect(await counters()).toEqual([0, 0, 0]);
        expect((await store.readAudit()).map((r) => r.code)).toEqual([
          'amount_invalid',
          'amount_invalid',
          'amount_invalid',
          'amount_invalid',
        ]);
      });

      it('finish throws on a NaN, negative or infinite settlement and changes nothing; a valid one then lands', async () => {
        const { store, settle, proceed, counters } = await direct();
        const checkpoint = await proceed(2_000_000);
        expect(await counters()).toEqual([2_000_000, 2_000_000, 1]);
        const seen = (await store.readAudit()).length;
        for (const bad of BAD_AMOUNTS) {
          const refused = await store.finish(settle(checkpoint, bad)).then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(refused).toBeInstanceOf(RangeError);
          expect((refused as RangeError).message).toBe(notMicros(`the settlement ${bad}`));
        }
        expect(await store.getCheckpoint(checkpoint.id)).toMatchObject({
          state: 'in_progress',
          fencingToken: checkpoint.fencingToken,
          reservedMicros: 2_000_000,
          actualMicros: null,
          completedAt: null,
        });
        expect(await counters()).toEqual([2_000_000, 2_000_000, 1]);
        expect(await store.readAudit()).toHaveLength(seen);

        expect((await store.finish(settle(checkpoint, 1_500_000))).ok).toBe(true);
        expect(await store.getCheckpoint(checkpoint.id)).toMatchObject({
          state: 'completed',
          reservedMicros: 1_500_000,
          actualMicros: 1_500_000,
        });
        expect(await counters()).toEqual([1_500_000, 1_500_000, 1]);
        expect((await store.readAudit()).slice(seen).map((r) => r.code)).toEqual(['executed']);
      });

      it('for any double as the cost, begin reserves exactly that whole amount or denies, and counters stay whole', async () => {
        const { store, plan, counters } = await direct();
        let reserved = 0;
        let proceeded = 0;
        // Plain doubles (NaN, infinities, -0, fractions, huge values) and amounts that fit the caps.
        const costs = fc.oneof(fc.double(), fc.integer({ min: -1_000, max: 3_000_000 }));
        await fc.assert(
          fc.asyncProperty(costs, async (cost) => {
            const whole = Number.isSafeInteger(cost) && cost >= 0;
            const fits = whole && reserved + cost <= DAILY_CAP;
            const begun = await store.begin(plan(cost));
            if (fits) {
              expect(begun.kind).toBe('proceed');
              // === so that -0 and 0 are the same amount.
              expect(begun.kind === 'proceed' && begun.checkpoint.reservedMicros === cost).toBe(true);
              reserved += cost;
              proceeded++;
            } else {
              expect(begun).toMatchObject({
                kind: 'denied',
                code: whole ? 'cap_exceeded' : 'amount_invalid',
              });
            }
            const values = await counters();
            expect(values.every((v) => Number.isSafeInteger(v) && v >= 0)).toBe(true);
            expect(values).toEqual([reserved, reserved, proceeded]);
          }),
          { numRuns: 50 },
        );
      });
    });

    describe('store failures', () => {
      it('fails closed when the store is unavailable: the vendor is not called', async () => {
        const { guard, root, store } = await setup();
        const vendor = fakeVendor();
        await guard.execute(charge(root.token, 100), vendor.fn);
        await store.close();
        const d = await guard.execute(charge(root.token, 200), vendor.fn);
        expect(d).toMatchObject({ decision: 'denied', code: 'store_unavailable' });
        expect(vendor.calls).toBe(1);
      });
    });
  });
}
