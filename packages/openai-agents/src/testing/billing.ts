import { type FunctionTool, tool } from '@openai/agents';
import { type BillingToolset, type ChargeOutput, chargeOrder } from '@spendguard/testkit/adapters';
import type Stripe from 'stripe';
import { z } from 'zod';

export const chargeParameters = z.object({
  customer: z.string().describe('the Stripe customer id (cus_…)'),
  amountCents: z.number().int().describe('the amount in cents'),
  currency: z.string().describe('three-letter currency code, e.g. usd'),
  orderId: z.string().describe('the order this charge pays'),
  note: z.string().nullish().describe('free text for the receipt'),
});

/** The billing agent's charge tool, annotated with the SDK's public `FunctionTool` type. */
export type ChargeTool = FunctionTool<unknown, typeof chargeParameters, ChargeOutput>;

/** The billing agent's tools, as an `Agent`'s `tools` list. */
export type BillingTools = ChargeTool[];

/**
 * The billing tools as any OpenAI Agents application writes them: a plain `tool()` over a Stripe
 * client with the SDK's default error handling, nothing about spendguard (`guardTools` wraps them
 * from the outside). `stats` counts the charge tool's own executions.
 */
export function billingTools(stripe: Stripe): BillingToolset<BillingTools> {
  const stats = { executions: 0 };
  const charge = tool({
    name: 'charge',
    description: 'Charge a customer for an order. Amounts are in cents.',
    parameters: chargeParameters,
    execute: (input) => {
      stats.executions++;
      return chargeOrder(stripe, { ...input, note: input.note ?? undefined });
    },
  }) as ChargeTool;
  return { tools: [charge], stats };
}
