import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFakeStripe, type FakeServer } from '@spendguard/testkit';
import fc from 'fast-check';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGovernedFetch } from './clients/governed-fetch.ts';
import { createGovernedStripe } from './clients/governed-stripe.ts';
import { DECISION_CODES, type ExecuteDecision } from './decision.ts';
import { createGuard, type ExecuteRequest, type Guard } from './guard.ts';
import type { PolicyDocument } from './policy.ts';
import type { Store } from './store.ts';
import { MemoryStore } from './stores/memory-store.ts';
import { SqliteStore } from './stores/sqlite-store.ts';

const SECRET = 'sk_test_hostile_input_REAL_SECRET';
const ENV = 'SPENDGUARD_TEST_HOSTILE_STRIPE_KEY';

/** The README's billing policy, as written. */
const readmePolicy: PolicyDocument = {
  policies: {
    'billing-agent': {
      stripe: {
        allow: [
          {
            'POST /v1/payment_intents': {
              amount: { max: 5000 },
              currency: { in: ['usd', 'eur'] },
              customer: { required: true },
            },
          },
          { 'POST /v1/refunds': { amount: { max: 2000 } } },
          'GET /v1/charges/*',
          // Not in the README: lets the tests make the charges that get refunded.
          { 'POST /v1/charges': { amount: { max: 10_000 } } },
          'POST /v1/checkout/sessions',
        ],
      },
      caps: { perCall: 100, perRun: 200, perDay: 1000 },
      fx: { eur: 1.08 },
    },
  },
  credentials: { stripe: { env: ENV } },
};

function prototypeSnapshot(): string {
  const names = (o: object) => Object.getOwnPropertyNames(o).sort();
  return JSON.stringify([names(Object.prototype), names(Array.prototype), names(Function.prototype)]);
}

async function stripeError(promise: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return error;
    throw error;
  }
  throw new Error('expected a Stripe error');
}

const fake = createFakeStripe({ secretKey: SECRET });
let server: FakeServer;
let guard: Guard;
let token: string;
let keyId: string;
const snapshot = prototypeSnapshot();

beforeAll(async () => {
  server = await fake.listen();
  process.env[ENV] = SECRET;
});
afterAll(async () => {
  await server.close();
  delete process.env[ENV];
});
beforeEach(async () => {
  fake.reset();
  guard = createGuard({ policies: readmePolicy, store: new MemoryStore() });
  const root = await guard.keys.issueRoot({ policy: 'billing-agent' });
  const run = await guard.keys.derive(root.token, { runId: 'run-1' });
  token = run.token;
  keyId = run.id;
});
afterEach(() => {
  expect(prototypeSnapshot()).toBe(snapshot);
});

function stripe(): Stripe {
  return createGovernedStripe({
    guard,
    key: token,
    config: { host: '127.0.0.1', port: server.port, protocol: 'http', maxNetworkRetries: 0 },
  });
}

async function lastAudit() {
  return (await guard.audit.list()).at(-1);
}

describe('hostile input through the real stripe SDK and the governed client', () => {
  it('a form key that walks into a prototype is refused, audited, and changes nothing for later calls', async () => {
    const metadata = JSON.parse('{"__proto__": {"approvedBy": "attacker"}, "constructor": "x"}');
    const error = await stripeError(
      stripe().charges.create({ amount: 500, currency: 'usd', source: 'tok_visa', metadata }),
    );
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('spendguard_request_invalid');
    expect(error.message).toMatch(/metadata\[(__proto__|constructor)\]/);
    expect(fake.ledger.list('charge')).toHaveLength(0);
    expect(await lastAudit()).toMatchObject({ code: 'request_invalid', keyId });
    expect(({} as Record<string, unknown>).approvedBy).toBeUndefined();
    // The next ordinary call is priced and capped as before.
    const charge = await stripe().charges.create({ amount: 1500, currency: 'usd', source: 'tok_visa' });
    expect(charge.amount).toBe(1500);
    expect((await guard.spend(keyId)).lifetimeUsd).toBe(15);
  });

  it('a price that would be NaN is denied, never added to a counter, and caps keep holding', async () => {
    for (const currency of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const error = await stripeError(stripe().charges.create({ amount: 500, currency, source: 'tok_visa' }));
      expect(['spendguard_amount_invalid', 'spendguard_currency_not_priced']).toContain(error.code);
    }
    // The same through the engine's own entry, where a caller names the cost.
    const direct = await guard.execute(
      {
        key: token,
        vendor: 'stripe',
        method: 'POST',
        path: '/v1/charges',
        params: { amount: '1' },
        cost: { amount: 1, currency: 'constructor' },
      },
      async () => ({}),
    );
    expect(direct.code).toBe('currency_not_priced');
    const spend = await guard.spend(keyId);
    expect(spend).toMatchObject({ lifetimeUsd: 0, hourUsd: 0, dayUsd: 0 });
    // The run cap of $200 still holds: three $90 charges, the third refused.
    const made = [];
    for (const i of [1, 2, 3]) {
      made.push(
        await stripe()
          .charges.create({ amount: 9000, currency: 'usd', source: 'tok_visa', metadata: { i } })
          .catch((e) => e),
      );
    }
    expect(made[2]).toBeInstanceOf(Stripe.errors.StripeError);
    expect(made[2].code).toBe('spendguard_cap_exceeded');
    expect((await guard.spend(keyId)).lifetimeUsd).toBe(180);
  });

  it.each([
    ['a negative amount', -5000],
    ['a fractional amount', 12.5],
    ['an amount in exponent form', '5e3'],
  ])('%s is denied amount_invalid, naming the param, and reserves nothing', async (_name, amount) => {
    const error = await stripeError(
      stripe().charges.create({ amount: amount as number, currency: 'usd', source: 'tok_visa' }),
    );
    expect(error.code).toBe('spendguard_amount_invalid');
    expect(error.message).toMatch(/amount/);
    expect(fake.ledger.list('charge')).toHaveLength(0);
    expect((await guard.spend(keyId)).lifetimeUsd).toBe(0);
  });

  it('a negative cost given to the engine is denied, never a negative reservation', async () => {
    const decision = await guard.execute(
      {
        key: token,
        vendor: 'stripe',
        method: 'POST',
        path: '/v1/charges',
        params: { amount: '100' },
        cost: { amount: -50, currency: 'usd' },
      },
      async () => ({}),
    );
    expect(decision.code).toBe('amount_invalid');
    expect((await guard.spend(keyId)).lifetimeUsd).toBe(0);
  });

  it('a Stripe endpoint the profile does not know is denied cost_unknown, unless the policy states its cost', async () => {
    const error = await stripeError(
      stripe().checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com' }),
    );
    expect(error.code).toBe('spendguard_cost_unknown');
    expect(error.message).toMatch(/stripe\.costs/);
    expect(fake.ledger.requests.filter((r) => r.path === '/v1/checkout/sessions')).toHaveLength(0);

    const stated: PolicyDocument = structuredClone(readmePolicy);
    const section = stated.policies['billing-agent']?.stripe as { costs?: Record<string, number> };
    section.costs = { 'POST /v1/checkout/sessions': 2.5 };
    const priced = createGuard({ policies: stated, store: new MemoryStore() });
    const root = await priced.keys.issueRoot({ policy: 'billing-agent' });
    const decision = await priced.execute(
      {
        key: root.token,
        vendor: 'stripe',
        method: 'POST',
        path: '/v1/checkout/sessions',
        params: { mode: 'payment' },
      },
      async () => ({ id: 'cs_1', object: 'checkout.session' }),
    );
    expect(decision).toMatchObject({ decision: 'executed', estimatedCostUsd: 2.5, actualCostUsd: 2.5 });
  });

  it('a refund without amount is checked against max at what it would refund (the README policy is safe as written)', async () => {
    const big = await stripe().charges.create({ amount: 5000, currency: 'usd', source: 'tok_visa' });
    const error = await stripeError(stripe().refunds.create({ charge: big.id }));
    expect(error.code).toBe('spendguard_param_not_allowed');
    expect(error.message).toMatch(/amount 5000 is above the maximum 2000 \(the value the vendor would use/);
    expect(fake.ledger.list('refund')).toHaveLength(0);

    const small = await stripe().charges.create({ amount: 1500, currency: 'usd', source: 'tok_visa' });
    const refund = await stripe().refunds.create({ charge: small.id });
    expect(refund.amount).toBe(1500);
    expect(fake.ledger.list('refund')).toHaveLength(1);
  });

  it('a refund whose effective amount cannot be read is denied, saying the policy needs the param', async () => {
    const decision = await guard.execute(
      {
        key: token,
        vendor: 'stripe',
        method: 'POST',
        path: '/v1/refunds',
        params: { charge: 'ch_unknown' },
        cost: { amount: 1, currency: 'usd' },
      },
      async () => ({}),
    );
    expect(decision.code).toBe('param_not_allowed');
    expect(decision.message).toMatch(/send amount explicitly/);
  });

  it('the same charge on two connected accounts (Stripe-Account) is two charges, not a replay', async () => {
    const params = { amount: 1200, currency: 'usd', source: 'tok_visa', metadata: { order_id: 'o-1' } };
    const onA = await stripe().charges.create(params, { stripeAccount: 'acct_A' });
    const onB = await stripe().charges.create(params, { stripeAccount: 'acct_B' });
    const againA = await stripe().charges.create(params, { stripeAccount: 'acct_A' });
    expect(onB.id).not.toBe(onA.id);
    expect(againA.id).toBe(onA.id);
    expect(fake.ledger.list('charge')).toHaveLength(2);
  });

  it('a huge bracket index or nesting is refused at once, before any policy work', async () => {
    const governed = createGovernedFetch({
      guard,
      key: token,
      vendor: 'stripe',
      upstream: `http://127.0.0.1:${server.port}`,
    });
    for (const body of [
      'amount=100&currency=usd&source=tok_visa&metadata[items][99999999999]=1',
      `amount=100&currency=usd&source=tok_visa&a${'[b]'.repeat(300_000)}=1`,
    ]) {
      const started = performance.now();
      const response = await governed('https://api.stripe.com/v1/charges', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      expect(performance.now() - started).toBeLessThan(1000);
      expect(response.status).toBe(400);
      const payload = (await response.json()) as { error: { code: string; message: string } };
      expect(payload.error.code).toBe('spendguard_request_invalid');
      expect(payload.error.message).toMatch(/param (metadata\[items\]\[99999999999\]|a\[b\])/);
    }
    expect(fake.ledger.requests).toHaveLength(0);
  });
});

describe('paths match only in canonical form; every matching rule applies', () => {
  const call = (path: string, params: Record<string, unknown> = {}): ExecuteRequest => ({
    key: token,
    vendor: 'stripe',
    method: 'POST',
    path,
    params,
    cost: { amount: 1, currency: 'usd' },
  });
  const ok = async () => ({});

  it.each([
    '/v1/refunds/',
    '/V1/refunds',
    '/v1/Refunds',
    '/v1/%72efunds',
    '/v1/./refunds',
    '/v1//refunds',
    '/v1/x/../refunds',
  ])('%s is not /v1/refunds', async (path) => {
    expect((await guard.execute(call(path, { amount: '100', charge: 'ch_1' }), ok)).code).toBe(
      'operation_not_allowed',
    );
  });

  it('a wildcard matches no dot segment or encoded segment', async () => {
    for (const path of ['/v1/charges/..', '/v1/charges/%2e%2e', '/v1/charges/ch_1/']) {
      const read = await guard.execute({ ...call(path), method: 'GET' }, ok);
      expect(read.code).toBe('operation_not_allowed');
    }
    expect((await guard.execute({ ...call('/v1/charges/ch_1'), method: 'GET' }, ok)).code).toBe('executed');
  });

  it('a rule matches a non-canonical path only as written', async () => {
    const odd = createGuard({
      policies: { policies: { p: { stripe: { allow: ['POST /v1/odd/', 'POST /v1/**'] } } } },
      store: new MemoryStore(),
    });
    const root = await odd.keys.issueRoot({ policy: 'p' });
    const decision = await odd.execute({ ...call('/v1/odd/'), key: root.token }, ok);
    expect(decision.code).toBe('executed');
    expect((await odd.execute({ ...call('/v1/odd//'), key: root.token }, ok)).code).toBe(
      'operation_not_allowed',
    );
  });

  it('a broad rule listed first cannot switch off a narrower one, for params and for approvals', async () => {
    const layered = createGuard({
      policies: {
        policies: {
          p: {
            stripe: { allow: ['POST /v1/**', { 'POST /v1/refunds': { amount: { max: 2000 } } }] },
            approval: { operations: ['stripe:POST /v1/refunds'] },
          },
        },
      },
      store: new MemoryStore(),
    });
    const root = await layered.keys.issueRoot({ policy: 'p' });
    const big = await layered.execute(
      { ...call('/v1/refunds', { amount: '5000', charge: 'ch_1' }), key: root.token },
      ok,
    );
    expect(big.code).toBe('param_not_allowed');
    const small = await layered.execute(
      { ...call('/v1/refunds', { amount: '500', charge: 'ch_1' }), key: root.token },
      ok,
    );
    expect(small.code).toBe('approval_required');
  });
});

describe('a derived key narrowed to an operation keeps every allow entry of it', () => {
  it("an operation listed twice keeps both entries' param rules", async () => {
    const twice = createGuard({
      policies: {
        policies: {
          p: {
            stripe: {
              allow: [
                { 'POST /v1/refunds': { amount: { max: 2000 } } },
                { 'POST /v1/refunds': { currency: { in: ['usd'] } } },
              ],
            },
          },
        },
      },
      store: new MemoryStore(),
    });
    const root = await twice.keys.issueRoot({ policy: 'p' });
    const run = await twice.keys.derive(root.token, { runId: 'r', operations: ['stripe:POST /v1/refunds'] });
    const refund = (amount: string, currency: string) =>
      twice.execute(
        {
          key: run.token,
          vendor: 'stripe',
          method: 'POST',
          path: '/v1/refunds',
          params: { amount, currency, charge: 'ch_1' },
        },
        async () => ({}),
      );
    expect((await refund('5000', 'usd')).code).toBe('param_not_allowed');
    expect((await refund('500', 'eur')).code).toBe('param_not_allowed');
    expect((await refund('500', 'usd')).code).toBe('executed');
  });
});

describe('checkpoints bind to what the vendor sees', () => {
  const charge = (
    params: Record<string, unknown>,
    vendor = 'stripe',
    path = '/v1/charges',
  ): ExecuteRequest => ({
    key: token,
    vendor,
    method: 'POST',
    path,
    params,
  });
  let calls = 0;
  const vendorCall = async () => {
    calls += 1;
    return { id: `ch_${calls}`, object: 'charge', amount: 500, amount_captured: 500, currency: 'usd' };
  };
  beforeEach(() => {
    calls = 0;
  });

  it('a number and its numeric string are one Stripe request', async () => {
    expect(
      (await guard.execute(charge({ amount: 500, currency: 'usd', capture: true }), vendorCall)).code,
    ).toBe('executed');
    expect(
      (await guard.execute(charge({ amount: '500', currency: 'usd', capture: 'true' }), vendorCall)).code,
    ).toBe('replayed');
    expect(calls).toBe(1);
  });

  it('composed and decomposed Unicode are one request', async () => {
    const params = (d: string) => ({ amount: '500', currency: 'usd', description: d });
    await guard.execute(charge(params('Caf\u00e9 Z\u00fcrich')), vendorCall);
    expect((await guard.execute(charge(params('Cafe\u0301 Zu\u0308rich')), vendorCall)).code).toBe(
      'replayed',
    );
    expect(calls).toBe(1);
  });

  it('requests the vendor can tell apart never share a checkpoint', async () => {
    await guard.execute(charge({ amount: '500', currency: 'usd' }), vendorCall);
    expect((await guard.execute(charge({ amount: '500.0', currency: 'usd' }), vendorCall)).code).toBe(
      'amount_invalid',
    );
    expect(
      (await guard.execute(charge({ amount: '500', currency: 'usd', description: ' ' }), vendorCall)).code,
    ).toBe('executed');
    expect(calls).toBe(2);
  });

  it('a tool input that is not JSON data is refused, not hashed as {}', async () => {
    const ran: string[] = [];
    for (const input of [{ customer: new Map([['id', 'alice']]) }, { customer: new Map([['id', 'bob']]) }]) {
      const decision = await guard.executeTool({ key: token, tool: 'charge', input }, async () => {
        ran.push('ran');
        return 'ok';
      });
      expect(decision.code).toBe('request_invalid');
      expect(decision.message).toMatch(/a Map at \$\[3\]\.input\.customer is not JSON data/);
    }
    expect(ran).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over the whole pipeline.

const CODES = new Set<string>(DECISION_CODES);
const hostileKey = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'valueOf',
    'amount',
    'currency',
    'charge',
  ),
  fc.string({ maxLength: 6 }),
);
const hostileScalar = fc.oneof(
  fc.constantFrom(
    'NaN',
    'Infinity',
    '-1',
    '-0',
    '1e308',
    '0x10',
    '',
    ' 5',
    '5 ',
    '12.5',
    '99999999999999999999',
  ),
  fc.constantFrom('usd', 'eur', 'jpy', 'kwd', 'constructor', '__proto__', 'USD', 'u$d'),
  fc.double(),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.nat({ max: 20_000 }).map(String),
  fc.boolean(),
  fc.constant(null),
);
const hostileValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileScalar,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 3 }),
  ),
})).value;
const hostileParams = fc
  .tuple(
    fc.dictionary(hostileKey, hostileValue, { maxKeys: 5 }),
    fc.option(hostileScalar, { nil: undefined }),
    fc.option(fc.constantFrom('usd', 'eur', 'jpy', 'xxx', 'constructor'), { nil: undefined }),
    fc.boolean(),
  )
  .map(([extra, amount, currency, asJson]) => {
    const params: Record<string, unknown> = asJson ? JSON.parse(JSON.stringify(extra) ?? '{}') : { ...extra };
    if (amount !== undefined) params.amount = amount;
    if (currency !== undefined) params.currency = currency;
    return params;
  });
const operation = fc.constantFrom(
  { method: 'POST', path: '/v1/charges' },
  { method: 'POST', path: '/v1/refunds' },
  { method: 'POST', path: '/v1/payment_intents' },
  { method: 'POST', path: '/v1/checkout/sessions' },
  { method: 'POST', path: '/v1/transfers' },
  { method: 'GET', path: '/v1/charges/ch_1' },
);

const propertyPolicy: PolicyDocument = {
  policies: {
    p: {
      stripe: {
        allow: [
          { 'POST /v1/charges': { amount: { max: 20_000 } } },
          { 'POST /v1/refunds': { amount: { max: 3000 } } },
          'POST /v1/payment_intents',
          'POST /v1/checkout/sessions',
          'GET /v1/charges/*',
        ],
      },
      caps: { perCall: 150, perRun: 400, perDay: 700 },
      fx: { eur: 1.08, jpy: 0.0067 },
    },
  },
};

/** A well-formed charge of up to $200 (or the same in EUR or JPY), so caps are really reached. */
const validCharge = fc
  .tuple(fc.nat({ max: 20_000 }), fc.constantFrom('usd', 'eur', 'jpy'), fc.string({ maxLength: 4 }))
  .map(
    ([amount, currency, description]) =>
      [
        { method: 'POST', path: '/v1/charges' },
        { amount: String(currency === 'jpy' ? amount * 100 : amount), currency, description },
      ] as const,
  );

/** A vendor that does what the request says: echoes the amount it was asked to move. */
async function echo(request: ExecuteRequest) {
  const params = request.params ?? {};
  return {
    id: 'obj_1',
    object: request.path === '/v1/refunds' ? 'refund' : 'charge',
    amount: Number(params.amount ?? 0),
    amount_captured: Number(params.amount ?? 0),
    currency: params.currency,
  };
}

/** A lookup that answers for any charge: $25 left to refund. */
const lookup = async () => ({
  object: 'charge',
  amount: 2500,
  amount_captured: 2500,
  amount_refunded: 0,
  currency: 'usd',
});

describe('pipeline properties', () => {
  it('for any params: prototypes unchanged, every counter finite and ≥ 0, every code documented', async () => {
    const store = new MemoryStore();
    const g = createGuard({ policies: propertyPolicy, store });
    const root = await g.keys.issueRoot({ policy: 'p' });
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(operation, hostileParams, async (op, params) => {
        const request: ExecuteRequest = { key: root.token, vendor: 'stripe', ...op, params, lookup };
        const needs = await g.needsApproval(request);
        expect(typeof needs).toBe('boolean');
        const decision = await g.execute(request, () => echo(request));
        expect(CODES.has(decision.code)).toBe(true);
        seen.add(decision.code);
        if (decision.estimatedCostUsd !== undefined) {
          expect(Number.isFinite(decision.estimatedCostUsd) && decision.estimatedCostUsd >= 0).toBe(true);
        }
        if (decision.decision === 'executed' || decision.decision === 'replayed') {
          expect(Number.isFinite(decision.actualCostUsd) && decision.actualCostUsd >= 0).toBe(true);
        }
        const { lifetimeUsd, hourUsd, dayUsd } = await g.spend(root.id);
        for (const usd of [lifetimeUsd, hourUsd, dayUsd]) expect(Number.isFinite(usd) && usd >= 0).toBe(true);
        expect(prototypeSnapshot()).toBe(snapshot);
      }),
      { numRuns: 400 },
    );
    // The generator reaches both sides: calls that run and each kind of refusal.
    for (const code of [
      'executed',
      'request_invalid',
      'amount_invalid',
      'cost_unknown',
      'param_not_allowed',
    ]) {
      expect(seen).toContain(code);
    }
    // The audit log carries only documented codes (plus approval verdicts), and no NaN.
    for (const row of await g.audit.list()) {
      expect(CODES.has(row.code)).toBe(true);
      for (const field of [row.amount, row.estimatedCostUsd, row.actualCostUsd]) {
        if (field !== null) expect(Number.isFinite(field) && field >= 0).toBe(true);
      }
    }
    expect((await g.audit.verify()).ok).toBe(true);
  });

  describe('money invariants on SQLite', () => {
    let dir: string;
    let store: Store;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'spendguard-hostile-'));
    });
    afterEach(async () => {
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('executed spend never exceeds any cap, to the cent, whatever the calls', async () => {
      let runNo = 0;
      let totalRuns = 0;
      let capped = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              { weight: 3, arbitrary: validCharge },
              { weight: 1, arbitrary: fc.tuple(operation, hostileParams) },
            ),
            {
              minLength: 1,
              maxLength: 25,
            },
          ),
          async (calls) => {
            runNo += 1;
            store = new SqliteStore({ file: join(dir, `state-${runNo}.db`) });
            const g = createGuard({ policies: propertyPolicy, store });
            const root = await g.keys.issueRoot({ policy: 'p' });
            const run = await g.keys.derive(root.token, { runId: `run-${runNo}` });
            const executed: ExecuteDecision<unknown>[] = [];
            totalRuns += 1;
            await Promise.all(
              calls.map(async ([op, params]) => {
                const request: ExecuteRequest = { key: run.token, vendor: 'stripe', ...op, params, lookup };
                const decision = await g.execute(request, () => echo(request));
                expect(CODES.has(decision.code)).toBe(true);
                if (decision.decision === 'executed') executed.push(decision);
                if (decision.code === 'cap_exceeded') capped += 1;
              }),
            );
            // In micro-dollars, the engine's exact unit: the sum of the rows is the counter.
            const micros = (usd: number) => Math.round(usd * 1_000_000);
            const spent = executed.reduce(
              (sum, d) => sum + micros(d.decision === 'executed' ? d.actualCostUsd : 0),
              0,
            );
            expect(spent).toBeLessThanOrEqual(micros(400)); // perRun
            for (const d of executed) {
              if (d.decision === 'executed') expect(micros(d.actualCostUsd)).toBeLessThanOrEqual(micros(150)); // perCall
            }
            const spend = await g.spend(run.id);
            expect(micros(spend.lifetimeUsd)).toBe(spent);
            expect(micros(spend.dayUsd)).toBeLessThanOrEqual(micros(700));
            await store.close();
          },
        ),
        { numRuns: 40 },
      );
      expect(totalRuns).toBeGreaterThan(0);
      expect(capped).toBeGreaterThan(0); // the caps were really reached, not just never approached
    });
  });
});
