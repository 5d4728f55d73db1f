import { createGuard, type Guard, MemoryStore, type PolicyDocument } from '@spendguard/core';
import { createGovernedStripe } from '@spendguard/core/stripe';
import { createFakeStripe, type FakeServer, type FakeStripe } from '@spendguard/testkit';
import { tool } from 'ai';
import Stripe from 'stripe';
import { z } from 'zod';

export const STRIPE_SECRET = 'sk_test_spendguard_ai_sdk';
const ENV = 'SPENDGUARD_AI_SDK_TEST_STRIPE_KEY';

/** The billing agent's policy: charges up to $500 in USD, $1000 a run, a human above $400. */
export const policies: PolicyDocument = {
  policies: {
    billing: {
      stripe: {
        allow: [
          {
            'POST /v1/charges': {
              amount: { max: 50_000 },
              currency: { in: ['usd'] },
              customer: { required: true },
            },
          },
          'POST /v1/customers',
        ],
      },
      caps: { perCall: 500, perRun: 1000 },
      approval: { above: 400 },
    },
  },
  credentials: { stripe: { env: ENV } },
};

/** The fake Stripe on loopback, a guard over a MemoryStore, and a root key, fresh per test. */
export class BillingWorld {
  readonly fake: FakeStripe = createFakeStripe({ secretKey: STRIPE_SECRET });
  server!: FakeServer;
  guard!: Guard;
  rootToken!: string;
  rootId!: string;

  async start(): Promise<void> {
    process.env[ENV] = STRIPE_SECRET;
    this.server = await this.fake.listen();
  }

  async reset(): Promise<void> {
    this.fake.reset();
    await this.guard?.close();
    this.guard = createGuard({ policies, store: new MemoryStore(), leaseMs: 5000 });
    const root = await this.guard.keys.issueRoot({ policy: 'billing', name: 'billing-agent' });
    this.rootToken = root.token;
    this.rootId = root.id;
  }

  async stop(): Promise<void> {
    await this.guard?.close();
    await this.server.close();
    delete process.env[ENV];
  }

  /** The official SDK with the real secret: what a billing tool uses without spendguard. */
  plainStripe(): Stripe {
    return new Stripe(STRIPE_SECRET, this.#config());
  }

  /** The official SDK through the guard, keyed by the run binding of the tool call it runs in. */
  governedStripe(): Stripe {
    return createGovernedStripe({ guard: this.guard, config: this.#config() });
  }

  /** Customers created at the fake Stripe before the run (not counted as money). */
  async customers(...names: string[]): Promise<Record<string, string>> {
    const stripe = this.plainStripe();
    const ids: Record<string, string> = {};
    for (const name of names) ids[name] = (await stripe.customers.create({ name })).id;
    return ids;
  }

  /** Money moved by charges, in USD. */
  chargedUsd(): number {
    return this.fake.ledger.moneyMoved('usd') / 100;
  }

  #config(): Stripe.StripeConfig {
    return { host: '127.0.0.1', port: this.server.port, protocol: 'http', maxNetworkRetries: 0 };
  }
}

export const chargeInput = z.object({
  customer: z.string().describe('Stripe customer id'),
  amountCents: z.number().int().describe('amount in cents'),
  currency: z.string().default('usd'),
  orderId: z.string().describe('the order this charge pays'),
  note: z.string().optional().describe('free text for the receipt'),
});

/** The application's billing tools, written as any AI SDK user writes them, over a Stripe client. */
export function billingTools(stripe: Stripe) {
  const stats = { executions: 0 };
  const charge = tool({
    description: 'Charge a customer for an order.',
    inputSchema: chargeInput,
    execute: async ({ customer, amountCents, currency, orderId }) => {
      stats.executions++;
      const paid = await stripe.charges.create({
        amount: amountCents,
        currency,
        customer,
        metadata: { order_id: orderId },
      });
      return { chargeId: paid.id, amountCents: paid.amount, status: paid.status };
    },
  });
  return { tools: { charge }, stats };
}
