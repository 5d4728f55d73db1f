import { type Tool, tool } from 'ai';
import type Stripe from 'stripe';
import { z } from 'zod';

export const chargeInput = z.object({
  customer: z.string().describe('the Stripe customer id (cus_…)'),
  amountCents: z.number().int().positive().describe('the amount in cents'),
  currency: z.string().describe('three-letter currency code, e.g. usd'),
  orderId: z.string().describe('the order this charge pays'),
  note: z.string().optional().describe('free text for the receipt'),
});

export type ChargeInput = z.infer<typeof chargeInput>;

export interface ChargeOutput {
  chargeId: string;
  amountCents: number;
  currency: string;
  status: string;
}

/** The billing agent's tools. Annotated with the AI SDK's public `Tool` type (no TS2742). */
export type BillingTools = {
  charge: Tool<ChargeInput, ChargeOutput>;
};

/**
 * The tools as any AI SDK application writes them: plain `tool()` objects over a Stripe client.
 * Nothing here knows about spendguard; `guardTools` wraps them from the outside.
 */
export function createBillingTools(stripe: Stripe): BillingTools {
  return {
    charge: tool({
      description: 'Charge a customer for an order. Amounts are in cents.',
      inputSchema: chargeInput,
      execute: async ({ customer, amountCents, currency, orderId }): Promise<ChargeOutput> => {
        const paid = await stripe.charges.create({
          amount: amountCents,
          currency,
          customer,
          metadata: { order_id: orderId },
        });
        return { chargeId: paid.id, amountCents: paid.amount, currency: paid.currency, status: paid.status };
      },
    }),
  };
}
