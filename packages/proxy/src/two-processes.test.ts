/**
 * Two proxy processes sharing one Redis: one cap and one revocation list for both. Each is its
 * own OS process (test-support/two-process-proxy.ts) running `serveProxy` over a RedisStore on
 * this file's key prefix, with the fake Stripe listening here as their Stripe upstream. This
 * process has a guard on the same prefix, to issue keys and read spend and audit rows.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type AuditRow, createGuard, type PolicyDocument } from '@spendguard/core';
import { RedisStore } from '@spendguard/redis';
import { createFakeStripe, type FakeServer } from '@spendguard/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ProxyProcess, TEST_REDIS_URL, testPrefix } from '../test-support/two-process-driver.ts';

const STRIPE_SECRET = 'sk_test_spendguard_two_processes';
const SECRET_ENV = 'SPENDGUARD_TEST_STRIPE_KEY';

/** $2.35 a charge against a $88 cap: 37 fit ($86.95), a 38th would be $89.30. */
const CENTS = 235;
const CAP_USD = 88;
const ADMITTED = 37;
const CALLS_PER_PROCESS = 50;
/** Spread the starts so both processes' calls interleave at Redis, even on a loaded machine. */
const START_JITTER_MS = 100;
const REQUEST_TIMEOUT_MS = 10_000;

const POLICIES: PolicyDocument = {
  policies: { billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perKey: CAP_USD } } },
  credentials: { stripe: { env: SECRET_ENV } },
};

const fake = createFakeStripe({ secretKey: STRIPE_SECRET });
const prefix = testPrefix('proxy-two-processes');
const store = new RedisStore({ url: TEST_REDIS_URL, prefix });
const guard = createGuard({ policies: POLICIES, store });
let stripeServer: FakeServer | undefined;
const proxies: ProxyProcess[] = [];

beforeAll(async () => {
  stripeServer = await fake.listen();
  const config = { redisUrl: TEST_REDIS_URL, prefix, policies: POLICIES, stripeUpstream: stripeServer.url };
  for (let i = 0; i < 2; i++) proxies.push(await ProxyProcess.start(config, { [SECRET_ENV]: STRIPE_SECRET }));
});

afterAll(async () => {
  try {
    expect(await Promise.all(proxies.map((p) => p.stop()))).toEqual(proxies.map(() => 0));
  } finally {
    await stripeServer?.close();
    await store.clear();
    await guard.close();
  }
});

beforeEach(() => fake.reset());

/** A charge through one proxy, as an agent holding a vault key sends it. */
async function charge(proxy: ProxyProcess, token: string, orderId: string) {
  const response = await fetch(`${proxy.url}/stripe/v1/charges`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: new URLSearchParams({
      amount: String(CENTS),
      currency: 'usd',
      source: 'tok_visa',
      'metadata[order_id]': orderId,
    }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return {
    status: response.status,
    shouldRetry: response.headers.get('stripe-should-retry'),
    body: (await response.json()) as { id?: string; error?: { type: string; code: string; message: string } },
  };
}

async function auditRows(rootKeyId: string): Promise<AuditRow[]> {
  return store.readAudit({ rootKeyId });
}

describe('two proxy processes sharing one Redis', () => {
  it(`admit exactly ${ADMITTED} of 2 × ${CALLS_PER_PROCESS} charges racing for one cap, 0 overspend to the cent`, async () => {
    const root = await guard.keys.issueRoot({ policy: 'billing', name: 'cap-race' });
    const answers = await Promise.all(
      Array.from({ length: 2 * CALLS_PER_PROCESS }, async (_, i) => {
        const through = i % 2;
        await sleep(Math.random() * START_JITTER_MS);
        return { through, ...(await charge(proxies[through] as ProxyProcess, root.token, `ord_race_${i}`)) };
      }),
    );

    const executed = answers.filter((a) => a.status === 200);
    const denied = answers.filter((a) => a.status !== 200);
    expect(executed).toHaveLength(ADMITTED);
    expect(denied).toHaveLength(2 * CALLS_PER_PROCESS - ADMITTED);
    for (const answer of denied) {
      expect(answer).toMatchObject({
        status: 403,
        shouldRetry: 'false',
        body: { error: { type: 'invalid_request_error', code: 'spendguard_cap_exceeded' } },
      });
    }
    // Both processes won part of the cap: a real race between them, not one taking it all.
    expect(new Set(executed.map((a) => a.through))).toEqual(new Set([0, 1]));

    // The vendor agrees: one charge per admitted call, each the one its caller was answered with.
    expect(fake.ledger.count('charge')).toBe(ADMITTED);
    expect(fake.ledger.moneyMoved('usd')).toBe(ADMITTED * CENTS);
    const ids = executed.map((a) => a.body.id as string);
    expect(new Set(ids).size).toBe(ADMITTED);
    for (const id of ids) expect(fake.ledger.get(id)).toMatchObject({ object: 'charge', amount: CENTS });

    const spentMicros = ADMITTED * CENTS * 10_000;
    expect(await store.getCounter(`${root.id}:life`)).toBe(spentMicros);
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(spentMicros / 1_000_000);
    const rows = await auditRows(root.id);
    expect(rows.filter((r) => r.code === 'executed')).toHaveLength(ADMITTED);
    expect(rows.filter((r) => r.code === 'cap_exceeded')).toHaveLength(2 * CALLS_PER_PROCESS - ADMITTED);
    expect(rows).toHaveLength(2 * CALLS_PER_PROCESS);
    expect(await guard.audit.verify()).toMatchObject({ ok: true });
  });

  it('deny key_revoked through one process once the key is revoked through the other', async () => {
    const root = await guard.keys.issueRoot({ policy: 'billing', name: 'revoke' });
    const [revoker, other] = proxies as [ProxyProcess, ProxyProcess];
    // One charge through each first: both now hold the key and token in their caches, so only
    // the atomic begin on the shared Redis can tell them about the revocation.
    expect((await charge(revoker, root.token, 'ord_before_0')).status).toBe(200);
    expect((await charge(other, root.token, 'ord_before_1')).status).toBe(200);

    expect(await revoker.revoke(root.id)).toBe(true);

    const revokedShape = {
      status: 401,
      shouldRetry: 'false',
      body: {
        error: { type: 'invalid_request_error', code: 'spendguard_key_revoked', message: expect.any(String) },
      },
    };
    expect(await charge(other, root.token, 'ord_after_1')).toEqual(revokedShape);
    expect(await charge(revoker, root.token, 'ord_after_0')).toEqual(revokedShape);

    expect(fake.ledger.count('charge')).toBe(2);
    const rows = await auditRows(root.id);
    expect(rows.map((r) => r.code)).toEqual(['executed', 'executed', 'key_revoked', 'key_revoked']);
    expect(await guard.audit.verify()).toMatchObject({ ok: true });
  });
});
