import type { PolicyDocument } from '@spendguard/core';

/**
 * The billing agent's policy: USD charges up to $500 to a named customer, $1000 a run, $5000 a
 * day, a human above $400. The real Stripe secret is read from `credentialEnv` when a call is made.
 */
export function billingPolicy(credentialEnv: string): PolicyDocument {
  return {
    policies: {
      'billing-agent': {
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
