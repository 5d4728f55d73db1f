/**
 * Checkpoints, approvals and the audit log bind to what really happens: the account a call acts
 * on, the run of a business key, one approval for one call, calls nobody finished, and an anchor
 * the store cannot forge.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { VendorCallError } from './errors.ts';
import { createGuard, type ExecuteRequest, type Guard, type GuardOptions } from './guard.ts';
import type { PolicyDocument, PolicySettings } from './policy.ts';
import type { FinishInput, FinishResult } from './store.ts';
import { MemoryStore } from './stores/memory-store.ts';
import { FakeClock } from './testing/fake-clock.ts';

const HOUR = 3_600_000;

function policies(settings: PolicySettings = {}, stripe: Record<string, unknown> = {}): PolicyDocument {
  return {
    policies: {
      billing: {
        stripe: { allow: ['POST /v1/charges', 'POST /v1/refunds'], ...stripe },
        twilio: { allow: ['POST /2010-04-01/Accounts/*/Messages.json'], prices: { '+1': 0.01 } },
        ...settings,
      },
    },
  };
}

let clock: FakeClock;
let store: MemoryStore;
let guard: Guard;
let token: string;

async function setup(
  settings?: PolicySettings,
  stripe?: Record<string, unknown>,
  options: Partial<GuardOptions> = {},
) {
  clock = new FakeClock();
  store = new MemoryStore();
  guard = createGuard({
    policies: policies(settings, stripe),
    store,
    now: clock.now,
    leaseMs: 60_000,
    ...options,
  });
  token = (await guard.keys.issueRoot({ policy: 'billing' })).token;
}

const charge = (cents: number, extra: Partial<ExecuteRequest> = {}): ExecuteRequest => ({
  key: token,
  vendor: 'stripe',
  method: 'POST',
  path: '/v1/charges',
  params: { amount: String(cents), currency: 'usd', customer: 'cus_1' },
  ...extra,
});
const refund = (cents: number, extra: Partial<ExecuteRequest> = {}): ExecuteRequest => ({
  ...charge(cents, extra),
  path: '/v1/refunds',
  params: { amount: String(cents), currency: 'usd', charge: 'ch_1' },
  ...extra,
});

let vendorCalls = 0;
const ok = async () => {
  vendorCalls += 1;
  return { id: `obj_${vendorCalls}`, object: 'charge', amount: 100, currency: 'usd' };
};
beforeEach(() => {
  vendorCalls = 0;
});

describe('a checkpoint never joins calls that do different things', () => {
  beforeEach(() => setup());

  it('the same charge on two connected accounts is two calls', async () => {
    expect((await guard.execute(charge(500, { account: 'acct_A' }), ok)).code).toBe('executed');
    expect((await guard.execute(charge(500, { account: 'acct_B' }), ok)).code).toBe('executed');
    expect((await guard.execute(charge(500), ok)).code).toBe('executed');
    expect((await guard.execute(charge(500, { account: 'acct_A' }), ok)).code).toBe('replayed');
    expect(vendorCalls).toBe(3);
  });

  it('a business key under scope "run" is per run; under "root" it spans runs', async () => {
    const a = await guard.keys.derive(token, { runId: 'run-a' });
    const b = await guard.keys.derive(token, { runId: 'run-b' });
    const order = { idempotencyKey: 'order-42', scope: 'run' as const };
    expect((await guard.execute(charge(500, { key: a.token, ...order }), ok)).code).toBe('executed');
    expect((await guard.execute(charge(500, { key: b.token, ...order }), ok)).code).toBe('executed');
    expect((await guard.execute(charge(500, { key: a.token, ...order }), ok)).code).toBe('replayed');
    const root = { idempotencyKey: 'order-43' };
    expect((await guard.execute(charge(500, { key: a.token, ...root }), ok)).code).toBe('executed');
    expect((await guard.execute(charge(500, { key: b.token, ...root }), ok)).code).toBe('replayed');
    expect(vendorCalls).toBe(3);
  });

  it('a tool call binds its context (less runId); fields can narrow it', async () => {
    let runs = 0;
    const tool = async () => ++runs;
    const call = (context: unknown, fields?: string[]) =>
      guard.executeTool(
        { key: token, tool: 'charge', input: { amount: 500 }, context, ...(fields && { fields }) },
        tool,
      );
    expect((await call({ customer: 'alice', runId: 'r1' })).code).toBe('executed');
    expect((await call({ customer: 'bob', runId: 'r1' })).code).toBe('executed');
    expect((await call({ customer: 'alice', runId: 'r2' })).code).toBe('replayed');
    const narrowed = ['amount', 'context.customer'];
    expect((await call({ customer: 'carol', locale: 'de' }, narrowed)).code).toBe('executed');
    expect((await call({ customer: 'carol', locale: 'fr' }, narrowed)).code).toBe('replayed');
    // Without fields every context entry counts: another locale is another call.
    expect((await call({ customer: 'carol', locale: 'fr' })).code).toBe('executed');
    expect(runs).toBe(4);
  });
});

describe('the policy can allow-list vendor accounts', () => {
  it('denies a call on an account it does not name, naming it', async () => {
    await setup({}, { accounts: ['acct_ok'] });
    const denied = await guard.execute(charge(500, { account: 'acct_evil' }), ok);
    expect(denied).toMatchObject({ decision: 'denied', code: 'account_not_allowed' });
    expect(denied.message).toMatch(/acct_evil.*stripe\.accounts/);
    expect((await guard.execute(charge(500, { account: 'acct_ok' }), ok)).code).toBe('executed');
    expect((await guard.execute(charge(500), ok)).code).toBe('executed'); // your own account
    expect(vendorCalls).toBe(2);
  });
});

describe('an approval approves one call', () => {
  beforeEach(() => setup({ approval: { above: 500 } }));

  it('a $600 refund approved under order-42 does not approve a $50,000 refund or a $90,000 charge under it', async () => {
    const key = { idempotencyKey: 'order-42' };
    const asked = await guard.execute(refund(60_000, key), ok);
    expect(asked.decision).toBe('needs_approval');
    const approvalId = asked.decision === 'needs_approval' ? asked.approvalId : '';
    await guard.approvals.approve(approvalId, { by: 'lead@shop' });

    const bigger = await guard.execute(refund(5_000_000, key), ok);
    expect(bigger.decision).toBe('needs_approval');
    expect(bigger.decision === 'needs_approval' && bigger.approvalId).not.toBe(approvalId);
    const other = await guard.execute(charge(9_000_000, key), ok);
    expect(other.decision).toBe('needs_approval');
    expect(vendorCalls).toBe(0);

    expect((await guard.execute(refund(60_000, key), ok)).code).toBe('executed');
    expect((await guard.execute(refund(60_000, key), ok)).code).toBe('replayed');
    expect(vendorCalls).toBe(1);
  });

  it('expires after its ttl (default 1 h), asking again under the same id', async () => {
    const asked = await guard.execute(refund(60_000), ok);
    const approvalId = asked.decision === 'needs_approval' ? asked.approvalId : '';
    await guard.approvals.approve(approvalId, { by: 'lead@shop' });
    clock.advance(HOUR + 1);
    const again = await guard.execute(refund(60_000), ok);
    expect(again).toMatchObject({ decision: 'needs_approval', approvalId });
    // The person deciding sees whose money moves: the refunded charge, read by the profile.
    expect(await guard.approvals.get(approvalId)).toMatchObject({ state: 'pending', recipient: 'ch_1' });
    expect(vendorCalls).toBe(0);
  });

  it('is used once: after the approved call surely fails, a retry needs a new yes', async () => {
    const asked = await guard.execute(refund(60_000), ok);
    const approvalId = asked.decision === 'needs_approval' ? asked.approvalId : '';
    await guard.approvals.approve(approvalId, { by: 'lead@shop' });
    const declined = async () => {
      vendorCalls += 1;
      throw new VendorCallError('declined', { outcome: 'failed', status: 402 });
    };
    expect((await guard.execute(refund(60_000), declined)).code).toBe('vendor_error');
    expect((await guard.execute(refund(60_000), ok)).decision).toBe('needs_approval');
    expect(vendorCalls).toBe(1);
  });
});

describe('calls nobody finished', () => {
  beforeEach(() => setup({ reconcileAfter: '10m' }));
  const timeout = async () => {
    vendorCalls += 1;
    throw new VendorCallError('socket hang up', { outcome: 'unknown' });
  };
  const sms: ExecuteRequest = {
    key: '',
    vendor: 'twilio',
    method: 'POST',
    path: '/2010-04-01/Accounts/AC1/Messages.json',
    params: { To: '+15550001111', Body: 'hi' },
  };

  it('lists an unknown outcome, flags it for a person after reconcileAfter, and reconciles it', async () => {
    const lost = await guard.execute({ ...sms, key: token }, timeout);
    expect(lost.code).toBe('outcome_unknown');
    let [pending] = await guard.pending();
    expect(pending).toMatchObject({
      vendor: 'twilio',
      operation: 'POST /2010-04-01/Accounts/AC1/Messages.json',
      reservedUsd: 0.01,
      outcomeUnknown: true,
      needsReconciliation: false,
    });
    clock.advance(10 * 60_000);
    [pending] = await guard.pending();
    expect(pending?.needsReconciliation).toBe(true);
    const id = pending?.checkpointId as string;
    const settled = await guard.reconcile(id, {
      outcome: 'executed',
      costUsd: 0.02,
      objectId: 'SM1',
      by: 'ops@shop',
    });
    expect(settled).toMatchObject({ state: 'completed', actualMicros: 20_000 });
    expect(await guard.pending()).toEqual([]);
    const row = (await guard.audit.list()).at(-1);
    expect(row).toMatchObject({
      code: 'reconciled',
      decision: 'executed',
      actualCostUsd: 0.02,
      upstreamObjectId: 'SM1',
    });
    expect(row?.message).toMatch(/by ops@shop/);
    await expect(guard.reconcile(id, { outcome: 'failed', by: 'ops@shop' })).rejects.toThrow(
      /no pending call/,
    );
  });

  it('reconciling as failed releases the reservation', async () => {
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    await guard.execute({ ...sms, key: root.token }, timeout);
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(0.01);
    const [pending] = await guard.pending();
    await guard.reconcile(pending?.checkpointId as string, { outcome: 'failed', by: 'ops@shop' });
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(0);
  });

  it('a call that ran while the store could not record it gets its audit row once the store is back', async () => {
    class FlakyFinish extends MemoryStore {
      down = false;
      override async finish(input: FinishInput): Promise<FinishResult> {
        if (this.down) throw new Error('connection reset');
        return super.finish(input);
      }
    }
    const flaky = new FlakyFinish();
    clock = new FakeClock();
    guard = createGuard({ policies: policies(), store: flaky, now: clock.now });
    token = (await guard.keys.issueRoot({ policy: 'billing' })).token;
    flaky.down = true;
    const ran = await guard.execute(charge(700), ok);
    expect(ran.code).toBe('executed_not_recorded');
    expect((await guard.audit.list()).filter((r) => r.decision === 'executed')).toHaveLength(0);
    clock.advance(120_000); // past the lease: nobody is finishing it
    expect((await guard.pending()).map((p) => p.operation)).toEqual(['POST /v1/charges']);
    flaky.down = false;
    expect((await guard.execute(charge(800), ok)).code).toBe('executed');
    const executed = (await guard.audit.list()).filter((r) => r.decision === 'executed');
    expect(executed.map((r) => r.amount)).toEqual([7, 8]);
    expect(await guard.pending()).toEqual([]);
    expect((await guard.execute(charge(700), ok)).code).toBe('replayed');
    expect(vendorCalls).toBe(2);
  });
});

describe('the audit anchor', () => {
  it('verifies with the key that signed it, and fails with another', async () => {
    process.env.SPENDGUARD_TEST_AUDIT_KEY = 'audit-key-one-0123456789';
    process.env.SPENDGUARD_TEST_OTHER_KEY = 'audit-key-two-0123456789';
    await setup({}, {}, { auditKey: { env: 'SPENDGUARD_TEST_AUDIT_KEY' } });
    await guard.execute(charge(500), ok);
    await guard.execute(charge(600), ok);
    const head = await store.auditHead();
    expect(head?.anchor?.seq).toBe(head?.seq);
    expect(await guard.audit.verify()).toMatchObject({ ok: true });
    const other = createGuard({
      policies: policies(),
      store,
      auditKey: { env: 'SPENDGUARD_TEST_OTHER_KEY' },
    });
    expect(await other.audit.verify()).toMatchObject({ ok: false, problem: 'anchor_mismatch' });
  });
});
