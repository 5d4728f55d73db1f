import { createGuard, type Guard, type Store } from '@spendguard/core';
import { createGovernedStripe } from '@spendguard/core/stripe';
import { createFakeStripe, type FakeServer, type FakeStripe } from '@spendguard/testkit';
import Stripe from 'stripe';
import { billingPolicy } from './policy.ts';

/** The fake Stripe's secret: what the policy's credential resolves to offline. */
export const FAKE_STRIPE_SECRET = 'sk_test_spendguard_ai_sdk_example';

/** Everything the offline agent runs against: a fake Stripe on loopback, a guard and a root key. */
export interface OfflineWorld {
  fake: FakeStripe;
  guard: Guard;
  /** The billing agent's root vault key. */
  rootToken: string;
  /** The official Stripe SDK with the real (fake) secret: what tools use without spendguard. */
  plainStripe(): Stripe;
  /** The official Stripe SDK through the guard, keyed by the run binding of the tool call it runs in. */
  governedStripe(): Stripe;
  /** Create customers at the fake Stripe (not counted as money); name → id. */
  customers(...names: string[]): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export interface OfflineWorldOptions {
  store: Store;
  /** The environment variable the policy reads the Stripe secret from; set to the fake's here. */
  credentialEnv: string;
  /** Close the store on `close()`. Default: true; false for a store the caller owns. */
  closeStore?: boolean;
}

export async function startOfflineWorld(options: OfflineWorldOptions): Promise<OfflineWorld> {
  process.env[options.credentialEnv] = FAKE_STRIPE_SECRET;
  const fake = createFakeStripe({ secretKey: FAKE_STRIPE_SECRET });
  const server: FakeServer = await fake.listen();
  const guard = createGuard({
    policies: billingPolicy(options.credentialEnv),
    store: options.store,
    leaseMs: 5000,
  });
  const root = await guard.keys.issueRoot({
    policy: 'billing-agent',
    name: `ai-sdk-billing-agent-${Date.now()}`,
  });
  const config: Stripe.StripeConfig = {
    host: '127.0.0.1',
    port: server.port,
    protocol: 'http',
    maxNetworkRetries: 0,
  };
  const plainStripe = () => new Stripe(FAKE_STRIPE_SECRET, config);
  return {
    fake,
    guard,
    rootToken: root.token,
    plainStripe,
    governedStripe: () => createGovernedStripe({ guard, config }),
    async customers(...names) {
      const stripe = plainStripe();
      const ids: Record<string, string> = {};
      for (const name of names) ids[name] = (await stripe.customers.create({ name })).id;
      return ids;
    },
    async close() {
      if (options.closeStore !== false) await guard.close();
      await server.close();
      delete process.env[options.credentialEnv];
    },
  };
}
