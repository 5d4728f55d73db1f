/** `@spendguard/core/stripe`: a governed Stripe SDK. Needs the `stripe` package. */
export { createGovernedStripe, type GovernedStripeOptions } from './clients/governed-stripe.ts';
