import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SpendguardError } from '../errors.ts';
import { createGuard, type Guard } from '../guard.ts';
import type { PolicyDocument } from '../policy.ts';
import { runWithBinding } from '../run-binding.ts';
import { MemoryStore } from '../stores/memory-store.ts';
import { handleVendorRequest, type VendorRequestOptions } from './vendor-request.ts';

const SECRET = 'sk_test_real_stripe_secret_42';
const ENV = 'SPENDGUARD_TEST_VENDOR_REQUEST_STRIPE';

const policies: PolicyDocument = {
  policies: {
    agent: {
      stripe: { allow: ['POST /v1/charges', 'POST /v1/refunds'], accounts: ['acct_1'] },
      approval: { above: 100 },
      caps: { perKey: 1000 },
    },
  },
  credentials: { stripe: { env: ENV } },
};

/** What reached the vendor, and how it answers: a stub for the `fetch` option. */
interface Upstream {
  requests: { method: string; url: string; headers: Headers; body: string }[];
  answer: (url: URL) => Response;
}

let guard: Guard;
let token: string;
let upstream: Upstream;
let options: VendorRequestOptions;

beforeAll(() => {
  process.env[ENV] = SECRET;
});
afterAll(() => {
  delete process.env[ENV];
});
beforeEach(async () => {
  guard = createGuard({ policies, store: new MemoryStore() });
  token = (await guard.keys.issueRoot({ policy: 'agent' })).token;
  upstream = {
    requests: [],
    answer: () =>
      Response.json(
        { id: 'ch_1', amount: 500 },
        { headers: { 'request-id': 'req_1', 'x-vendor-debug': '1' } },
      ),
  };
  options = {
    guard,
    upstream: 'http://127.0.0.1:9',
    fetch: async (input, init) => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      upstream.requests.push({
        method: request.method,
        url: url.href,
        headers: request.headers,
        body: await request.text(),
      });
      return upstream.answer(url);
    },
  };
});

/** A request as a Stripe SDK sends it, with a vault token as its API key. */
function stripeRequest(path: string, body: string, headers: Record<string, string> = {}): Request {
  return new Request(`https://api.stripe.com${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/x-www-form-urlencoded',
      ...headers,
    },
    body,
  });
}

describe('handleVendorRequest', () => {
  it('makes the call once, with the real secret and our idempotency key, and replays its answer', async () => {
    const charge = () => stripeRequest('/v1/charges', 'amount=500&currency=usd&customer=cus_1');
    const first = await handleVendorRequest(charge(), options);
    expect(first.status).toBe(200);
    expect(first.headers.get('spendguard-decision')).toBe('executed');
    expect(await first.json()).toEqual({ id: 'ch_1', amount: 500 });
    const [sent] = upstream.requests;
    expect(sent?.url).toBe('http://127.0.0.1:9/v1/charges');
    expect(sent?.headers.get('authorization')).toBe(`Bearer ${SECRET}`);
    expect(sent?.headers.get('idempotency-key')).toMatch(/^sg_/);
    expect(sent?.body).toBe('amount=500&currency=usd&customer=cus_1');

    const again = await handleVendorRequest(charge(), options);
    expect(again.headers.get('spendguard-decision')).toBe('replayed');
    expect(again.headers.get('request-id')).toBe('req_1');
    expect(again.headers.get('x-vendor-debug')).toBeNull(); // only the kept headers are stored
    expect(await again.json()).toEqual({ id: 'ch_1', amount: 500 });
    expect(upstream.requests).toHaveLength(1);
    // Settled from the vendor's answer.
    expect((await guard.audit.list())[0]).toMatchObject({
      actualCostUsd: 5,
      upstreamStatus: 200,
      upstreamObjectId: 'ch_1',
    });
  });

  it('prices and sends the body it is given (`body`) instead of reading the request, so a replay sees the same call', async () => {
    const bare = () =>
      new Request('https://api.stripe.com/v1/charges', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      });
    const body = 'amount=500&currency=usd&customer=cus_1';
    const first = await handleVendorRequest(bare(), { ...options, body });
    expect(first.headers.get('spendguard-decision')).toBe('executed');
    expect(upstream.requests.map((r) => r.body)).toEqual([body]);
    expect((await guard.audit.list())[0]).toMatchObject({ amount: 5, currency: 'usd', estimatedCostUsd: 5 });
    // The same call made the usual way, its body in the request: one checkpoint, a replay.
    const again = await handleVendorRequest(stripeRequest('/v1/charges', body), options);
    expect(again.headers.get('spendguard-decision')).toBe('replayed');
    expect(upstream.requests).toHaveLength(1);
  });

  it('replays a call first made through guard.execute as the vendor object it stored, in JSON', async () => {
    // What a Stripe SDK call returns: an object whose `status` is Stripe's, not an HTTP status.
    const intent = { id: 'ch_9', object: 'charge', amount: 500, status: 'requires_payment_method' };
    const params = { amount: 500, currency: 'usd', customer: 'cus_1' };
    const first = await guard.execute(
      { key: token, vendor: 'stripe', method: 'POST', path: '/v1/charges', params },
      async () => intent,
    );
    expect(first.decision).toBe('executed');
    const replay = await handleVendorRequest(
      stripeRequest('/v1/charges', 'amount=500&currency=usd&customer=cus_1'),
      options,
    );
    expect(replay.status).toBe(200);
    expect(replay.headers.get('spendguard-decision')).toBe('replayed');
    expect(replay.headers.get('content-type')).toBe('application/json');
    expect(await replay.json()).toEqual(intent);
    expect(upstream.requests).toHaveLength(0);
  });

  it("refuses in the vendor's own error shape, with the decision's code and status", async () => {
    const keyless = new Request('https://api.stripe.com/v1/charges', { method: 'POST', body: 'amount=1' });
    const noKey = await handleVendorRequest(keyless, options);
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get('stripe-should-retry')).toBe('false');
    expect(await noKey.json()).toMatchObject({ error: { code: 'spendguard_key_unknown' } });

    const payout = await handleVendorRequest(stripeRequest('/v1/payouts', 'amount=1&currency=usd'), options);
    expect(payout.status).toBe(403);
    expect(payout.headers.get('spendguard-decision')).toBe('operation_not_allowed');

    const big = await handleVendorRequest(stripeRequest('/v1/charges', 'amount=20000&currency=usd'), options);
    expect(big.status).toBe(403);
    expect(big.headers.get('spendguard-approval-id')).toMatch(/^apr_/);
    expect(await big.json()).toMatchObject({ error: { code: 'spendguard_approval_required' } });
    expect(upstream.requests).toHaveLength(0);
  });

  it('puts the account the request acts on to the policy', async () => {
    const onAccount = (account: string) =>
      handleVendorRequest(
        stripeRequest('/v1/charges', 'amount=500&currency=usd', { 'stripe-account': account }),
        options,
      );
    expect((await onAccount('acct_1')).status).toBe(200);
    const other = await onAccount('acct_2');
    expect(other.headers.get('spendguard-decision')).toBe('account_not_allowed');
    expect(upstream.requests).toHaveLength(1);
  });

  it('refuses a body it cannot decode safely (request_invalid), audited under the key', async () => {
    const hostile = await handleVendorRequest(stripeRequest('/v1/charges', '__proto__[amount]=1'), options);
    expect(hostile.status).toBe(400);
    expect(hostile.headers.get('spendguard-decision')).toBe('request_invalid');
    expect(upstream.requests).toHaveLength(0);
    expect((await guard.audit.list()).map((r) => [r.decision, r.code])).toEqual([
      ['denied', 'request_invalid'],
    ]);
  });

  it("passes the vendor's own error answer back, redacted, and reads a price it must look up", async () => {
    upstream.answer = (url) =>
      url.pathname === '/v1/charges/ch_9'
        ? Response.json({ id: 'ch_9', amount: 1500, amount_refunded: 0, currency: 'usd' })
        : Response.json({ error: { message: `No such charge; key ${SECRET}` } }, { status: 404 });
    // A full refund is priced from the charge, read first with the real secret.
    const refund = await handleVendorRequest(stripeRequest('/v1/refunds', 'charge=ch_9'), options);
    expect(refund.status).toBe(404);
    expect(refund.headers.get('spendguard-decision')).toBe('vendor_error');
    const body = await refund.text();
    expect(body).not.toContain(SECRET);
    expect(body).toContain('[redacted]');
    expect(upstream.requests.map((r) => [r.method, new URL(r.url).pathname])).toEqual([
      ['GET', '/v1/charges/ch_9'],
      ['POST', '/v1/refunds'],
    ]);
    expect(upstream.requests[0]?.headers.get('authorization')).toBe(`Bearer ${SECRET}`);
    const [row] = await guard.audit.list();
    expect(row).toMatchObject({ decision: 'failed', code: 'vendor_error', estimatedCostUsd: 15 });
  });

  it('re-throws a transport error, as a redacted copy when it names a secret', async () => {
    const leaky = Object.assign(new TypeError(`connect ECONNREFUSED with ${SECRET}`), {
      code: 'ECONNREFUSED',
    });
    options.fetch = async () => {
      throw leaky;
    };
    const thrown = await handleVendorRequest(
      stripeRequest('/v1/charges', 'amount=5&currency=usd'),
      options,
    ).catch((e: unknown) => e);
    expect(thrown).not.toBe(leaky);
    expect(thrown).toMatchObject({ name: 'TypeError', code: 'ECONNREFUSED' });
    expect((thrown as Error).message).toBe('connect ECONNREFUSED with [redacted]');

    const plain = new TypeError('fetch failed');
    options.fetch = async () => {
      throw plain;
    };
    await expect(
      handleVendorRequest(stripeRequest('/v1/charges', 'amount=6&currency=usd'), options),
    ).rejects.toBe(plain);
  });

  it('uses a business key for the checkpoint when given one: other params under it are refused', async () => {
    const keyed = { ...options, idempotencyKey: 'order-7' };
    const first = await handleVendorRequest(stripeRequest('/v1/charges', 'amount=500&currency=usd'), keyed);
    expect(first.headers.get('spendguard-decision')).toBe('executed');
    const other = await handleVendorRequest(stripeRequest('/v1/charges', 'amount=600&currency=usd'), keyed);
    expect(other.status).toBe(400);
    expect(other.headers.get('spendguard-decision')).toBe('idempotency_mismatch');
    expect(upstream.requests).toHaveLength(1);
    expect((await guard.audit.list())[0]?.idempotencyKey).toBe('order-7');
  });

  it('takes the key and attribution of the run binding when the request carries no vault key', async () => {
    const run = await guard.keys.derive(token, { runId: 'r1' });
    const request = new Request('https://api.stripe.com/v1/charges', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'amount=500&currency=usd',
    });
    const response = await runWithBinding({ key: run.token, runId: 'r1', toolCallId: 'call_1' }, () =>
      handleVendorRequest(request, options),
    );
    expect(response.status).toBe(200);
    expect((await guard.audit.list())[0]).toMatchObject({ keyId: run.id, runId: 'r1', toolCallId: 'call_1' });
  });

  it('finds the vendor by host, or by the `hosts` option; an unknown host is a misconfiguration', async () => {
    const local = new Request('http://127.0.0.1:4242/v1/charges', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'amount=500&currency=usd',
    });
    const mapped = { ...options, hosts: { '127.0.0.1:4242': 'stripe' } };
    expect((await handleVendorRequest(local.clone(), mapped)).status).toBe(200);
    const unknown = handleVendorRequest(local, options);
    await expect(unknown).rejects.toSatisfy(
      (e) => SpendguardError.isInstance(e) && e.code === 'operation_invalid',
    );
  });
});
