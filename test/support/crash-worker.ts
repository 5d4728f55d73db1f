/**
 * A process that charges through a governed Stripe client and is killed while Stripe's answer is
 * still on its way: between the vendor call and `complete`. It prints `sent` once the request
 * has left, so the test knows when to kill it; with `mode: 'retry'` it charges and prints the
 * decision's result.
 */
import { createGuard, type PolicyDocument } from '@spendguard/core';
import { createGovernedStripe } from '@spendguard/core/stripe';
import { openStore } from './open-store.ts';
import type { WorkerStore } from './race-worker.ts';

export interface CrashWorkerConfig {
  store: WorkerStore;
  policies: PolicyDocument;
  token: string;
  stripePort: number;
  leaseMs: number;
  mode: 'crash' | 'retry';
}

const config = JSON.parse(process.argv[2] as string) as CrashWorkerConfig;

const guard = createGuard({
  policies: config.policies,
  store: await openStore(config.store),
  leaseMs: config.leaseMs,
});
const stripe = createGovernedStripe({
  guard,
  key: config.token,
  config: {
    host: '127.0.0.1',
    port: config.stripePort,
    protocol: 'http',
    maxNetworkRetries: 0,
    timeout: 20_000,
  },
  fetch: async (input, init) => {
    const answer = fetch(input, init);
    if (config.mode === 'crash') process.stdout.write('sent\n');
    return answer;
  },
});
const charge = await stripe.charges.create({
  amount: 4200,
  currency: 'usd',
  customer: process.env.CUSTOMER as string,
  metadata: { order_id: 'ord_crash' },
});
process.stdout.write(`${JSON.stringify({ id: charge.id })}\n`);
await guard.close();
