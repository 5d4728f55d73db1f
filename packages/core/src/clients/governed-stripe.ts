import Stripe from 'stripe';
import { createGovernedFetch, type GovernedFetchOptions } from './governed-fetch.ts';

export interface GovernedStripeOptions extends Omit<GovernedFetchOptions, 'vendor' | 'hosts'> {
  /** Options for the Stripe SDK (`host`, `port`, `protocol`, `maxNetworkRetries`, `timeout`, …). */
  config?: Stripe.StripeConfig;
}

/** Stands in for an API key when the key comes from the current run binding. */
const RUN_BOUND = 'spendguard_run_bound';

/**
 * A real `stripe` SDK instance whose HTTP goes through the guard, by stripe-node's own
 * extension point (an HttpClient over our fetch). Bound to `key`, or to the current run binding
 * at each call. Refusals raise Stripe errors with `code: 'spendguard_<code>'`.
 */
export function createGovernedStripe(options: GovernedStripeOptions): Stripe {
  const { config, ...fetchOptions } = options;
  const governed = createGovernedFetch({ ...fetchOptions, vendor: 'stripe' });
  return new Stripe(options.key ?? RUN_BOUND, {
    ...config,
    httpClient: Stripe.createFetchHttpClient(governed),
  });
}
