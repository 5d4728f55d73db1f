import { type DynamicStructuredTool, tool } from '@langchain/core/tools';
import { type BillingToolset, chargeOrder } from '@spendguard/testkit/adapters';
import type Stripe from 'stripe';
import { z } from 'zod';

export const chargeInput = z.object({
  customer: z.string().describe('the Stripe customer id (cus_…)'),
  amountCents: z.number().int().describe('the amount in cents'),
  currency: z.string().default('usd').describe('three-letter currency code, e.g. usd'),
  orderId: z.string().describe('the order this charge pays'),
  note: z.string().optional().describe('free text for the receipt'),
});

/** The billing agent's charge tool, annotated with LangChain's public class (no TS2742). */
export type ChargeTool = DynamicStructuredTool<typeof chargeInput>;

/** The billing agent's tools, as `ToolNode` and `createAgent` take them. */
export type BillingTools = ChargeTool[];

/**
 * The billing tools as any LangChain application writes them: a plain `tool()` over a Stripe
 * client, nothing about spendguard (`guardTools` or `spendguardMiddleware` govern it from the
 * outside). `stats` counts the charge tool's own executions.
 */
export function billingTools(stripe: Stripe): BillingToolset<BillingTools> {
  const stats = { executions: 0 };
  const charge: ChargeTool = tool(
    (input) => {
      stats.executions++;
      return chargeOrder(stripe, input);
    },
    {
      name: 'charge',
      description: 'Charge a customer for an order. Amounts are in cents.',
      schema: chargeInput,
    },
  );
  return { tools: [charge], stats };
}
