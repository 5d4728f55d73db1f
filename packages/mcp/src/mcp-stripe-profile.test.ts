import {
  type CostEstimate,
  createGuard,
  MemoryStore,
  type PolicyDocument,
  resolvePolicy,
} from '@spendguard/core';
import { describe, expect, it } from 'vitest';
import { MCP_PROFILES, mcpStripeProfile } from './mcp-stripe-profile.ts';

const OBJECTS: Record<string, unknown> = {
  '/v1/prices/price_month': { id: 'price_month', unit_amount: 2500, currency: 'usd' },
  '/v1/prices/price_eur': { id: 'price_eur', unit_amount: 1000, currency: 'eur' },
  '/v1/prices/price_metered': { id: 'price_metered', unit_amount: null, currency: 'usd' },
  '/v1/invoices/in_big': { id: 'in_big', amount_due: 900_000, currency: 'usd' },
  '/v1/payment_intents/pi_big': { id: 'pi_big', amount: 50_000, amount_received: 50_000, currency: 'usd' },
};
const reads: string[] = [];
const lookup = async (path: string) => {
  reads.push(path);
  if (!Object.hasOwn(OBJECTS, path)) throw new Error(`GET ${path} answered HTTP 404`);
  return OBJECTS[path];
};
const context = { policy: resolvePolicy('p', { stripe: { allow: [] } }), lookup };

function estimate(path: string, params: Record<string, unknown>): Promise<CostEstimate> {
  return mcpStripeProfile.estimate({ method: 'POST', path, params }, context);
}

describe("the MCP gateway's Stripe pricing", () => {
  it('prices a payment link by reading each price: unit amount × quantity', async () => {
    expect(
      await estimate('/v1/payment_links', { line_items: [{ price: 'price_month', quantity: 3 }] }),
    ).toEqual({
      cost: { amount: 75, currency: 'usd' },
    });
    expect(reads).toContain('/v1/prices/price_month');
    expect(
      await estimate('/v1/payment_links', {
        line_items: [{ price_data: { unit_amount: 999, currency: 'gbp' } }],
      }),
    ).toEqual({ cost: { amount: 9.99, currency: 'gbp' } });
  });

  it('denies what it cannot price: an unreadable or metered price, mixed currencies, too many lines', async () => {
    expect(await estimate('/v1/payment_links', { line_items: [{ price: 'price_gone' }] })).toHaveProperty(
      'unknown',
    );
    expect(await estimate('/v1/payment_links', { line_items: [{ price: 'price_metered' }] })).toHaveProperty(
      'unknown',
    );
    expect(
      await estimate('/v1/payment_links', { line_items: [{ price: 'price_month' }, { price: 'price_eur' }] }),
    ).toHaveProperty('unknown');
    expect(
      await estimate('/v1/payment_links', { line_items: Array(21).fill({ price: 'price_month' }) }),
    ).toHaveProperty('invalid');
    expect(
      await estimate('/v1/payment_links', { line_items: [{ price: 'price_month', quantity: -1 }] }),
    ).toHaveProperty('invalid');
    expect(await estimate('/v1/payment_links', { line_items: [{ price: '../admin' }] })).toHaveProperty(
      'invalid',
    );
  });

  it('prices an invoice item from its amount, or its price × quantity', async () => {
    expect(await estimate('/v1/invoiceitems', { amount: 1234, currency: 'usd' })).toEqual({
      cost: { amount: 12.34, currency: 'usd' },
    });
    expect(await estimate('/v1/invoiceitems', { price: 'price_eur', quantity: 2 })).toEqual({
      cost: { amount: 20, currency: 'eur' },
    });
    expect(await estimate('/v1/invoiceitems', { customer: 'cus_1' })).toHaveProperty('unknown');
  });

  it('prices finalizing an invoice at what it says is due, read first', async () => {
    expect(await estimate('/v1/invoices/in_big/finalize', {})).toEqual({
      cost: { amount: 9000, currency: 'usd' },
    });
    expect(await estimate('/v1/invoices/in_gone/finalize', {})).toHaveProperty('unknown');
  });

  it('prices an amount_off coupon; a percent_off one needs a stated cost', async () => {
    expect(await estimate('/v1/coupons', { amount_off: 500, currency: 'usd' })).toEqual({
      cost: { amount: 5, currency: 'usd' },
    });
    expect(await estimate('/v1/coupons', { percent_off: 25 })).toMatchObject({ unlisted: true });
  });

  it("leaves the rest to core's profile: a refund without amount reads the payment", async () => {
    expect(await estimate('/v1/refunds', { payment_intent: 'pi_big' })).toEqual({
      cost: { amount: 500, currency: 'usd' },
      effective: { amount: 50_000 },
    });
  });

  it('sends no idempotency key: MCP tools carry none, so an unknown outcome is not re-sent', () => {
    expect(mcpStripeProfile.idempotencyHeader).toBeNull();
    expect(MCP_PROFILES.map((p) => p.vendor)).toEqual(['stripe', 'twilio', 'resend']);
  });
});

describe('the pricing under a guard', () => {
  const policies: PolicyDocument = {
    policies: {
      billing: {
        stripe: {
          allow: ['POST /v1/invoices/*/finalize', 'POST /v1/coupons', 'POST /v1/payment_links'],
          costs: { 'POST /v1/coupons': 2 },
        },
        caps: { perCall: 100 },
      },
    },
    credentials: { stripe: { env: 'SPENDGUARD_MCP_PROFILE_TEST_KEY' } },
  };
  process.env.SPENDGUARD_MCP_PROFILE_TEST_KEY = 'sk_test_profile_0123456789';

  it('caps a finalize by the invoice it reads, and lets a stated cost price a percent_off coupon', async () => {
    const guard = createGuard({ policies, store: new MemoryStore(), profiles: MCP_PROFILES });
    const { token } = await guard.keys.issueRoot({ policy: 'billing' });
    let calls = 0;
    const call = async () => {
      calls += 1;
      return {};
    };
    const finalize = await guard.execute(
      {
        key: token,
        vendor: 'stripe',
        method: 'POST',
        path: '/v1/invoices/in_big/finalize',
        params: {},
        lookup,
      },
      call,
    );
    expect(finalize).toMatchObject({ decision: 'denied', code: 'cap_exceeded' });
    const coupon = await guard.execute(
      {
        key: token,
        vendor: 'stripe',
        method: 'POST',
        path: '/v1/coupons',
        params: { percent_off: 25 },
        lookup,
      },
      call,
    );
    expect(coupon).toMatchObject({ decision: 'executed', estimatedCostUsd: 2 });
    const link = await guard.execute(
      {
        key: token,
        vendor: 'stripe',
        method: 'POST',
        path: '/v1/payment_links',
        params: { line_items: [{ price: 'price_gone' }] },
        lookup,
      },
      call,
    );
    expect(link).toMatchObject({ decision: 'denied', code: 'cost_unknown' });
    expect(calls).toBe(1);
    await guard.close();
  });
});
