import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.ts';
import type { KeyRecord } from '../store.ts';
import { testKeyRecord } from '../testing/key-record.ts';
import type { AuthenticatedKey } from '../vault-keys.ts';
import { emptyAudit } from './audit-entries.ts';
import {
  approvalId,
  beginPlan,
  callFingerprint,
  capWindows,
  checkpointOf,
  dayWindow,
  hourWindow,
  lifetimeCounterId,
  rateWindows,
  vendorKey,
} from './call-plan.ts';

const NOW = Date.parse('2026-11-24T10:15:00.000Z');

const key = (id: string, parent: KeyRecord | null, runId: string | null = null) =>
  testKeyRecord(id, parent, { runId, createdAt: 0 });

const policy = resolvePolicy('p', {
  stripe: { allow: ['POST /v1/charges'] },
  caps: { perRun: 50, perDay: 500 },
  rate: { perMinute: 10 },
  approval: { above: 100 },
  alerts: [80],
});
const root = key('root', null);
const run = key('run', root, 'r1');
const auth: AuthenticatedKey = { key: run, chain: [root, run], policy, policies: [policy, policy] };
const charge = { key: 't', vendor: 'stripe', method: 'post', path: '/v1/charges', params: { amount: '500' } };

describe('id formats', () => {
  it('names counters, windows and the vendor key in one place', () => {
    expect(lifetimeCounterId('k1')).toBe('k1:life');
    expect(hourWindow('k1', NOW)).toEqual({
      id: `k1:hour:${Math.floor(NOW / 3_600_000)}`,
      expiresAt: Date.parse('2026-11-24T11:00:00.000Z'),
    });
    expect(dayWindow('k1', NOW)).toEqual({
      id: 'k1:day:2026-11-24',
      expiresAt: Date.parse('2026-11-25T00:00:00.000Z'),
    });
    expect(vendorKey({ id: 'a'.repeat(64), generation: 3 })).toBe(`sg_${'a'.repeat(40)}_3`);
    expect(rateWindows(auth, NOW).map((r) => r.id)).toEqual([
      `root:rate:${Math.floor(NOW / 60_000)}`,
      `run:rate:${Math.floor(NOW / 60_000)}`,
    ]);
  });

  it('counts a run key against its run cap and each capped window of its root', () => {
    expect(capWindows(auth, NOW).map((w) => [w.id, w.label, w.capMicros])).toEqual([
      ['root:day:2026-11-24', 'daily', 500_000_000],
      ['run:life', 'run', 50_000_000],
      ['run:day:2026-11-24', 'daily', 500_000_000],
    ]);
  });
});

describe('checkpoints', () => {
  it('the fingerprint is what the vendor sees: method case, form text, account', () => {
    const a = callFingerprint(charge, true);
    expect(callFingerprint({ ...charge, method: 'POST', params: { amount: 500 } }, true)).toBe(a);
    expect(callFingerprint({ ...charge, params: { amount: 500 } }, false)).not.toBe(a);
    expect(callFingerprint({ ...charge, account: 'acct_1' }, true)).not.toBe(a);
  });

  it('scopes a content key and a business key to the root, or to the run', () => {
    const fp = callFingerprint(charge, true);
    const rootScoped = checkpointOf({}, run, fp);
    expect(checkpointOf({}, root, fp)).toEqual(rootScoped); // same root, same checkpoint
    expect(checkpointOf({ scope: 'run' }, run, fp).checkpointId).not.toBe(rootScoped.checkpointId);
    const order = checkpointOf({ idempotencyKey: 'order-42' }, run, fp);
    expect(order.checkpointKey).toBe('order-42');
    expect(checkpointOf({ idempotencyKey: 'order-42', scope: 'run' }, run, fp).checkpointId).not.toBe(
      order.checkpointId,
    );
    expect(approvalId(order.checkpointId, fp)).not.toBe(
      approvalId(order.checkpointId, callFingerprint({ ...charge, account: 'x' }, true)),
    );
  });

  it('a tool checkpoint is neither capped, rated nor approved; a vendor call above the threshold asks', () => {
    const base = {
      request: charge,
      auth,
      rules: policy.rules,
      fingerprint: 'fp',
      recipient: () => 'cus_1',
      vendorIdempotent: false,
      leaseMs: 1000,
      now: NOW,
      audit: emptyAudit(NOW),
    };
    const vendor = beginPlan({ ...base, kind: 'vendor', costMicros: 200_000_000 });
    expect(vendor.windows.length).toBeGreaterThan(0);
    expect(vendor.rates.length).toBe(2);
    expect(vendor.approval).toMatchObject({
      costMicros: 200_000_000,
      fingerprint: 'fp',
      recipient: 'cus_1',
      ttlMs: 3_600_000,
    });
    expect(vendor.vendorIdempotent).toBe(false);
    const tool = beginPlan({ ...base, kind: 'tool', costMicros: 200_000_000 });
    expect([tool.windows, tool.rates, tool.approval, tool.vendorIdempotent]).toEqual([[], [], null, true]);
    expect(
      beginPlan({
        ...base,
        request: { ...charge, approvedBy: 'lead' },
        kind: 'vendor',
        costMicros: 200_000_000,
      }).approval,
    ).toBe(null);
  });
});
