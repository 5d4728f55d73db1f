import {
  createGuard,
  type Guard,
  type KeyRecord,
  MemoryStore,
  type PolicyDocument,
  type Store,
} from '@spendguard/core';
import { createGovernedStripe } from '@spendguard/core/stripe';
import Stripe from 'stripe';
import type { FakeServer } from '../http-server.ts';
import { createFakeStripe, type FakeStripe } from '../stripe/fake-stripe.ts';

/** The fake Stripe's secret: what the policy's credential resolves to while a world runs. */
export const FAKE_STRIPE_SECRET = 'sk_test_spendguard_billing_world';

/** The policy every adapter's billing agent runs under, and the agent's name on its audit rows. */
export const BILLING_AGENT = 'billing-agent';

/**
 * The billing agent's policy: USD charges up to $500 to a named customer, $1000 a run, $5000 a
 * day, a human above $400. The Stripe secret is read from `credentialEnv` when a call is made.
 */
export function billingPolicy(credentialEnv: string): PolicyDocument {
  return {
    policies: {
      [BILLING_AGENT]: {
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
        caps: { perCall: 500, perRun: 1000, perDay: 5000 },
        approval: { above: 400 },
      },
    },
    credentials: { stripe: { env: credentialEnv } },
  };
}

/** What the billing agent's charge tool takes, in every framework. */
export interface ChargeInput {
  /** The Stripe customer id (`cus_…`). */
  customer: string;
  amountCents: number;
  currency: string;
  /** The order this charge pays. */
  orderId: string;
  /** Free text for the receipt. */
  note?: string | undefined;
}

/** What the charge tool returns (and the behaviour table reads). */
export interface ChargeOutput {
  chargeId: string;
  amountCents: number;
  currency: string;
  status: string;
}

/** The charge tool's body as an application writes it, over whichever Stripe client it is given. */
export async function chargeOrder(stripe: Stripe, input: ChargeInput): Promise<ChargeOutput> {
  const paid = await stripe.charges.create({
    amount: input.amountCents,
    currency: input.currency,
    customer: input.customer,
    metadata: { order_id: input.orderId },
  });
  return { chargeId: paid.id, amountCents: paid.amount, currency: paid.currency, status: paid.status };
}

export interface BillingWorldOptions {
  /**
   * The guard's store. A store passed here is the caller's: kept open, and shared by every
   * `reset()`. Default: a new MemoryStore on each `reset()`, closed with its guard.
   */
  store?: Store;
  /** The environment variable the policy reads the Stripe secret from. Default: one of its own per world. */
  credentialEnv?: string;
}

/** Worlds made so far: each reads its own credential variable, so stopping one leaves the others theirs. */
let worlds = 0;

/**
 * What a billing agent runs against offline, with no framework in it: the fake Stripe on
 * loopback, a guard under `billingPolicy` and the agent's root key. `start()` it, `reset()` it
 * for a fresh guard and an empty Stripe, `stop()` it.
 */
export class BillingWorld {
  readonly fake: FakeStripe = createFakeStripe({ secretKey: FAKE_STRIPE_SECRET });
  /** The agent's name: tools pass it as their agent id, audit rows carry it. */
  readonly agentName = BILLING_AGENT;
  server!: FakeServer;
  guard!: Guard;
  /** The agent's root vault key; each run derives its run key from it. */
  rootToken!: string;
  rootId!: string;
  readonly #store: Store | undefined;
  readonly #credentialEnv: string;

  constructor(options: BillingWorldOptions = {}) {
    this.#store = options.store;
    this.#credentialEnv = options.credentialEnv ?? `SPENDGUARD_TESTKIT_STRIPE_KEY_${++worlds}`;
  }

  /** Listen on loopback, and make the first guard and root key. */
  async start(): Promise<void> {
    process.env[this.#credentialEnv] = FAKE_STRIPE_SECRET;
    this.server = await this.fake.listen();
    await this.reset();
  }

  /** Forget every Stripe object; a new guard (over a new MemoryStore, unless the store is the caller's) and root key. */
  async reset(): Promise<void> {
    this.fake.reset();
    await this.#closeGuard();
    this.guard = createGuard({
      policies: billingPolicy(this.#credentialEnv),
      store: this.#store ?? new MemoryStore(),
      leaseMs: 5000,
    });
    const root = await this.guard.keys.issueRoot({ policy: BILLING_AGENT, name: this.agentName });
    this.rootToken = root.token;
    this.rootId = root.id;
  }

  async stop(): Promise<void> {
    await this.#closeGuard();
    await this.server.close();
    delete process.env[this.#credentialEnv];
  }

  /** The official SDK with the real secret: what a billing tool uses without spendguard. */
  plainStripe(): Stripe {
    return new Stripe(FAKE_STRIPE_SECRET, this.#config());
  }

  /** The official SDK through the guard, keyed by the run binding of the tool call it runs in. */
  governedStripe(): Stripe {
    return createGovernedStripe({ guard: this.guard, config: this.#config() });
  }

  /** Customers created at the fake Stripe (not counted as money); name → id. */
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

  /** The run key the root key derived for a run, once a tool call of the run has derived it. */
  async runKey(runId: string): Promise<KeyRecord | undefined> {
    return (await this.guard.store.listKeys()).find((k) => k.parentId === this.rootId && k.runId === runId);
  }

  /** An operator pulls one run's key (the kill switch); other runs keep theirs. */
  async revokeRun(runId: string): Promise<void> {
    const key = await this.runKey(runId);
    if (!key) throw new Error(`run ${runId} has no key to revoke yet`);
    await this.guard.keys.revoke(key.id);
  }

  async #closeGuard(): Promise<void> {
    // A caller's store outlives the world: closing the guard would close it.
    if (this.guard && !this.#store) await this.guard.close();
  }

  #config(): Stripe.StripeConfig {
    return { host: '127.0.0.1', port: this.server.port, protocol: 'http', maxNetworkRetries: 0 };
  }
}
