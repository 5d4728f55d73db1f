import { createTool } from '@mastra/core/tools';
import { type BillingToolset, type ChargeOutput, chargeOrder } from '@spendguard/testkit/adapters';
import type Stripe from 'stripe';
import { z } from 'zod';

export const chargeInput = z.object({
  customer: z.string().describe('the Stripe customer id (cus_…)'),
  amountCents: z.number().int().describe('the amount in cents'),
  currency: z.string().default('usd').describe('three-letter currency code, e.g. usd'),
  orderId: z.string().describe('the order this charge pays'),
  note: z.string().optional().describe('free text for the receipt'),
});

export const chargeOutput = z.object({
  chargeId: z.string(),
  amountCents: z.number(),
  currency: z.string(),
  status: z.string(),
});

/** The charge tool's own execution, as Mastra's `createTool` types it. */
export type ChargeInput = z.infer<typeof chargeInput>;

/** What the charge tool does besides charging (e.g. book the charge in the app's database). */
export interface BillingOptions {
  /** Runs after the charge, inside the tool: when it throws, the tool fails after charging. */
  afterCharge?: (charge: ChargeOutput) => void | Promise<void>;
}

function chargeTool(stripe: Stripe, stats: { executions: number }, options: BillingOptions) {
  return createTool({
    id: 'charge',
    description: 'Charge a customer for an order. Amounts are in cents.',
    inputSchema: chargeInput,
    outputSchema: chargeOutput,
    execute: async (input): Promise<ChargeOutput> => {
      stats.executions++;
      const charge = await chargeOrder(stripe, input);
      await options.afterCharge?.(charge);
      return charge;
    },
  });
}

/** The billing agent's tools: a Mastra `createTool()` charge tool. */
export type BillingTools = { charge: ReturnType<typeof chargeTool> };

/**
 * The billing tools as any Mastra application writes them: `createTool()` over a Stripe client,
 * nothing about spendguard (`guardTools` wraps them from the outside). `stats` counts the charge
 * tool's own executions.
 */
export function billingTools(stripe: Stripe, options: BillingOptions = {}): BillingToolset<BillingTools> {
  const stats = { executions: 0 };
  return { tools: { charge: chargeTool(stripe, stats, options) }, stats };
}
