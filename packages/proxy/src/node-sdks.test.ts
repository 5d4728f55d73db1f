import { Resend } from 'resend';
import Stripe from 'stripe';
import twilio from 'twilio';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startWorld, type World } from './test-world.ts';

// The official Node SDKs, unchanged but for their base URL and a vault key as their secret.
const UPSTREAM_TIMEOUT_MS = 400;
const LEASE_MS = 1000;

let world: World;

beforeAll(async () => {
  world = await startWorld({ leaseMs: LEASE_MS, proxy: { upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS } });
});
afterAll(() => world.close());
beforeEach(() => {
  world.stripe.reset();
  world.twilio.reset();
  world.resend.reset();
});

function stripeFor(key: string): Stripe {
  const { hostname, port } = new URL(world.proxy.url);
  // stripe-node changes host and port only: the proxy serves Stripe's own /v1 paths too.
  return new Stripe(key, { host: hostname, port: Number(port), protocol: 'http', maxNetworkRetries: 0 });
}

function twilioFor(key: string): twilio.Twilio {
  const client = twilio(world.twilio.accountSid, key);
  client.api.baseUrl = `${world.proxy.url}/twilio`;
  return client;
}

async function runKey(runId: string, caps?: { perRun: number }) {
  return world.guard.keys.derive(world.rootToken, { runId, ...(caps && { caps }) });
}

async function stripeError(promise: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Stripe.errors.StripeError))
    throw new Error(`expected a StripeError, got ${String(error)}`);
  return error;
}

const charge = (order: string, amount = 2500) => ({
  amount,
  currency: 'usd',
  source: 'tok_visa',
  metadata: { order_id: order },
});

describe('stripe-node through the proxy', () => {
  it('F1: a retried step charges once; the retry gets the stored charge, marked replayed', async () => {
    const stripe = stripeFor((await runKey('f1')).token);
    const first = await stripe.charges.create(charge('ord_f1'));
    const retried = await stripe.charges.create(charge('ord_f1')); // a new Idempotency-Key from the SDK
    expect(retried.id).toBe(first.id);
    expect(first.lastResponse.headers['spendguard-decision']).toBe('executed');
    expect(retried.lastResponse.headers['spendguard-decision']).toBe('replayed');
    expect(world.stripe.ledger.count('charge')).toBe(1);
    expect(world.stripe.ledger.requests).toHaveLength(1);
  });

  it('F2: two identical concurrent calls charge once and both get the charge', async () => {
    const stripe = stripeFor((await runKey('f2')).token);
    const [a, b] = await Promise.all([
      stripe.charges.create(charge('ord_f2')),
      stripe.charges.create(charge('ord_f2')),
    ]);
    expect(a.id).toBe(b.id);
    expect(world.stripe.ledger.count('charge')).toBe(1);
  });

  it('F5: Stripe acted and the answer timed out; the retry re-sends the same key and Stripe replays', async () => {
    const stripe = stripeFor((await runKey('f5-timeout')).token);
    world.stripe.faults.inject({ kind: 'timeout_after_act', ms: 10_000 });
    const timedOut = await stripeError(stripe.charges.create(charge('ord_f5')));
    expect(timedOut.statusCode).toBe(504);
    expect(timedOut.code).toBe('spendguard_outcome_unknown');
    expect(world.stripe.ledger.count('charge')).toBe(1); // it happened

    // Within the lease the call is still in flight: refused, not sent again.
    const early = await stripeError(stripe.charges.create(charge('ord_f5')));
    expect(early.code).toBe('spendguard_outcome_unknown');
    world.clock.advance(LEASE_MS + 1);
    const retried = await stripe.charges.create(charge('ord_f5'));
    expect(retried.amount).toBe(2500);
    expect(world.stripe.ledger.count('charge')).toBe(1);
    const sent = world.stripe.ledger.requests.filter((r) => r.path === '/v1/charges');
    expect(sent.map((r) => r.replayed)).toEqual([false, true]);
    expect(sent[1]?.idempotencyKey).toBe(sent[0]?.idempotencyKey);
  });

  it("F5: Stripe acted and answered 500; the retry gets Stripe's stored answer, not a second charge", async () => {
    const stripe = stripeFor((await runKey('f5-500')).token);
    world.stripe.faults.inject({ kind: 'fail_after_act' });
    const failed = await stripeError(stripe.charges.create(charge('ord_f5b')));
    expect(failed.statusCode).toBe(500);
    expect(failed.rawType).toBe('api_error'); // Stripe's own answer, passed back
    world.clock.advance(LEASE_MS + 1);
    await stripeError(stripe.charges.create(charge('ord_f5b')));
    expect(world.stripe.ledger.count('charge')).toBe(1);
    const sent = world.stripe.ledger.requests;
    expect(sent.map((r) => r.replayed)).toEqual([false, true]);
    expect(sent[1]?.idempotencyKey).toBe(sent[0]?.idempotencyKey);
  });

  it('F6: per-run keys; a revoked run stops, the other goes on; audit rows name each run', async () => {
    const runA = await runKey('f6-a');
    const runB = await runKey('f6-b');
    await stripeFor(runA.token).charges.create(charge('ord_f6a'));
    await stripeFor(runB.token).charges.create(charge('ord_f6b'));
    await world.guard.keys.revoke(runA.id);
    const revoked = await stripeError(stripeFor(runA.token).charges.create(charge('ord_f6a2')));
    expect(revoked).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(revoked.code).toBe('spendguard_key_revoked');
    await stripeFor(runB.token).charges.create(charge('ord_f6b2'));
    expect(world.stripe.ledger.count('charge')).toBe(3);
    const rows = await world.guard.audit.list({ rootKeyId: world.rootId });
    const byRun = (runId: string) => rows.filter((r) => r.runId === runId).map((r) => [r.keyId, r.code]);
    expect(byRun('f6-a')).toEqual([
      [runA.id, 'executed'],
      [runA.id, 'key_revoked'],
    ]);
    expect(byRun('f6-b')).toEqual([
      [runB.id, 'executed'],
      [runB.id, 'executed'],
    ]);
  });

  it('F7: a refund-like loop of legal $25 charges stops exactly at the $100 run cap', async () => {
    const run = await runKey('f7', { perRun: 100 });
    const stripe = stripeFor(run.token);
    let made = 0;
    let stop: Stripe.errors.StripeError | undefined;
    for (let i = 0; i < 10 && !stop; i++) {
      try {
        await stripe.charges.create(charge(`ord_f7_${i}`));
        made++;
      } catch (error) {
        stop = error as Stripe.errors.StripeError;
      }
    }
    expect(made).toBe(4);
    expect(stop).toBeInstanceOf(Stripe.errors.StripePermissionError);
    expect(stop?.code).toBe('spendguard_cap_exceeded');
    expect(world.stripe.ledger.moneyMoved('usd')).toBe(10_000);
    expect((await world.guard.spend(run.id)).lifetimeUsd).toBe(100);
  });

  it("F8: an amount over the maximum is refused in Stripe's shape and never reaches Stripe", async () => {
    const stripe = stripeFor((await runKey('f8')).token);
    const refused = await stripeError(stripe.charges.create(charge('ord_f8', 6000)));
    expect(refused).toBeInstanceOf(Stripe.errors.StripePermissionError);
    expect(refused.code).toBe('spendguard_param_not_allowed');
    expect(refused.headers?.['stripe-should-retry']).toBe('false');
    expect(world.stripe.ledger.requests).toHaveLength(0);
  });
});

describe('twilio-node through the proxy', () => {
  it('F1 for SMS: Twilio has no idempotency key, so the proxy keeps a retried send to one message', async () => {
    const client = twilioFor((await runKey('sms-f1')).token);
    const sms = { to: '+15551230001', from: '+15550000000', body: 'Your code is 1234' };
    const first = await client.messages.create(sms);
    const again = await client.messages.create(sms);
    expect(again.sid).toBe(first.sid);
    expect(world.twilio.ledger.count()).toBe(1);
  });

  it('F8: an SMS to a premium-rate destination is refused as a RestException, not sent', async () => {
    const client = twilioFor((await runKey('sms-f8')).token);
    const error = await client.messages
      .create({ to: '+9005550100', from: '+15550000000', body: 'win a prize' })
      .then(
        () => undefined,
        (e: unknown) => e as { status: number; code: unknown },
      );
    expect(error).toMatchObject({ status: 403, code: 'spendguard_param_not_allowed' });
    expect(world.twilio.ledger.count()).toBe(0);
  });
});

describe('resend-node through the proxy', () => {
  it("sends a retried email once and refuses a missing vault key in Resend's shape", async () => {
    const run = await runKey('mail');
    const resend = new Resend(run.token, { baseUrl: `${world.proxy.url}/resend` });
    const email = { from: 'billing@example.com', to: 'ada@example.com', subject: 'Receipt', text: 'Paid.' };
    const first = await resend.emails.send(email);
    const again = await resend.emails.send(email);
    expect(first.data?.id).toBeDefined();
    expect(again.data?.id).toBe(first.data?.id);
    expect(world.resend.ledger.count()).toBe(1);

    const keyless = new Resend('re_not_a_vault_key', { baseUrl: `${world.proxy.url}/resend` });
    const refused = await keyless.emails.send(email);
    expect(refused.error).toMatchObject({ statusCode: 401, name: 'spendguard_key_unknown' });
    expect(world.resend.ledger.count()).toBe(1);
  });
});
