import { type BillingToolset, type ChargeOutput, chargeOrder } from '@spendguard/testkit/adapters';
import { type Tool, tool } from 'ai';
import type Stripe from 'stripe';
import { z } from 'zod';

export const chargeInput = z.object({
  customer: z.string().describe('the Stripe customer id (cus_…)'),
  amountCents: z.number().int().describe('the amount in cents'),
  currency: z.string().default('usd').describe('three-letter currency code, e.g. usd'),
  orderId: z.string().describe('the order this charge pays'),
  note: z.string().optional().describe('free text for the receipt'),
});

/** The billing agent's tools, annotated with the AI SDK's public `Tool` type (no TS2742). */
export type BillingTools = {
  charge: Tool<z.infer<typeof chargeInput>, ChargeOutput>;
};

/**
 * The billing tools as any AI SDK application writes them: plain `tool()` objects over a Stripe
 * client, nothing about spendguard (`guardTools` wraps them from the outside). `stats` counts the
 * charge tool's own executions.
 */
export function billingTools(stripe: Stripe): BillingToolset<BillingTools> {
  const stats = { executions: 0 };
  const charge = tool({
    description: 'Charge a customer for an order. Amounts are in cents.',
    inputSchema: chargeInput,
    execute: (input) => {
      stats.executions++;
      return chargeOrder(stripe, input);
    },
  });
  return { tools: { charge }, stats };
}
