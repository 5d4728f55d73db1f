import {
  type CostEstimate,
  type EstimateContext,
  minorToMajor,
  resendProfile,
  stripeProfile,
  twilioProfile,
  unlisted,
  type VendorOperation,
  type VendorProfile,
} from '@spendguard/core';

type StripeObject = Record<string, unknown>;
type Lookup = EstimateContext['lookup'];

const STRIPE_ID = /^[A-Za-z0-9_]{1,255}$/;
const CURRENCY = /^[A-Za-z]{3}$/;
const MINOR_UNITS = /^\d{1,15}$/;
/** Most line items priced in one call (Stripe allows 20 on a payment link). */
const MAX_LINES = 20;

/**
 * Stripe as the MCP gateway prices it: core's Stripe profile, plus the calls Stripe's MCP tools
 * make whose amount lives in an object they name, each priced by reading that object first with
 * the real credential (as core's profile does for a refund without `amount`):
 * - a payment link: each line's price × quantity (one purchase through the link);
 * - an invoice item: its amount, or its price × quantity;
 * - finalizing an invoice: its `amount_due`. Through MCP nothing else ever pays it — Stripe
 *   collects a finalized invoice itself — so this is where its money counts;
 * - an `amount_off` coupon: one redemption's discount. A `percent_off` coupon can't be priced and
 *   is denied unless the policy states its cost (`stripe.costs`).
 * And no idempotency header: MCP tools carry none, so an unknown outcome is never sent again
 * (core refuses it `outcome_unknown` until a person reconciles it).
 */
export const mcpStripeProfile: VendorProfile = {
  ...stripeProfile,
  idempotencyHeader: null,
  async estimate(op, context) {
    const own = await estimateMcpCall(op, context.lookup);
    return own ?? stripeProfile.estimate(op, context);
  },
};

/** The profiles an MCP gateway's guard is created with. */
export const MCP_PROFILES: readonly VendorProfile[] = [mcpStripeProfile, twilioProfile, resendProfile];

/** The estimate of a call core's profile does not price this way; undefined for the rest. */
async function estimateMcpCall(op: VendorOperation, lookup: Lookup): Promise<CostEstimate | undefined> {
  if (op.method !== 'POST') return undefined;
  if (op.path === '/v1/payment_links') return paymentLink(op.params, lookup);
  if (op.path === '/v1/invoiceitems') return invoiceItem(op.params, lookup);
  if (op.path === '/v1/coupons') return coupon(op);
  const finalize = /^\/v1\/invoices\/([^/]+)\/finalize$/.exec(op.path);
  if (finalize) return finalizeInvoice(finalize[1] as string, lookup);
  return undefined;
}

async function paymentLink(params: StripeObject, lookup: Lookup): Promise<CostEstimate> {
  const lines = params.line_items;
  if (!Array.isArray(lines) || lines.length === 0)
    return { unknown: 'a payment link needs line_items to be priced' };
  if (lines.length > MAX_LINES) return { invalid: `line_items has more than ${MAX_LINES} lines` };
  let total = 0;
  let currency: string | undefined;
  for (const line of lines) {
    if (line === null || typeof line !== 'object' || Array.isArray(line)) {
      return { invalid: 'each of line_items must be an object' };
    }
    const item = line as StripeObject;
    const unit = await unitPrice(own(item, 'price_data') ?? own(item, 'price'), lookup);
    if (!('amount' in unit)) return unit;
    const quantity = minorUnits(own(item, 'quantity') ?? 1, 'quantity');
    if (typeof quantity !== 'number') return quantity ?? { invalid: 'quantity must be a whole number' };
    if (currency !== undefined && currency !== unit.currency) {
      return { unknown: 'line items in more than one currency cannot be priced' };
    }
    currency = unit.currency;
    total += unit.amount * quantity;
  }
  return money(total, currency as string, 'the payment link');
}

async function invoiceItem(params: StripeObject, lookup: Lookup): Promise<CostEstimate> {
  const amount = minorUnits(own(params, 'amount'), 'amount');
  if (typeof amount === 'object') return amount;
  if (amount !== undefined) {
    const currency = own(params, 'currency');
    if (typeof currency !== 'string' || !CURRENCY.test(currency)) {
      return { unknown: 'an invoice item with an amount needs its currency to be priced' };
    }
    return money(amount, currency, 'the invoice item');
  }
  const unit = await unitPrice(own(params, 'price_data') ?? own(params, 'price'), lookup);
  if (!('amount' in unit)) return unit;
  const quantity = minorUnits(own(params, 'quantity') ?? 1, 'quantity');
  if (typeof quantity !== 'number') return quantity ?? { invalid: 'quantity must be a whole number' };
  return money(unit.amount * quantity, unit.currency, 'the invoice item');
}

async function finalizeInvoice(id: string, lookup: Lookup): Promise<CostEstimate> {
  if (!STRIPE_ID.test(id))
    return { invalid: `${JSON.stringify(id.slice(0, 40))} in the path is not a Stripe id` };
  const invoice = await read(lookup, `/v1/invoices/${id}`);
  if (!invoice) return { unknown: 'the invoice could not be read before finalizing it' };
  const amount = minorUnits(own(invoice, 'amount_due'), 'amount_due');
  if (typeof amount !== 'number') return { unknown: 'the invoice does not say what is due' };
  const currency = own(invoice, 'currency');
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) {
    return { unknown: 'the invoice does not say its currency' };
  }
  return money(amount, currency, 'the invoice');
}

function coupon(op: VendorOperation): CostEstimate {
  const amountOff = minorUnits(own(op.params, 'amount_off'), 'amount_off');
  if (typeof amountOff === 'object') return amountOff;
  if (amountOff === undefined) {
    return {
      ...unlisted('stripe', op),
      unknown:
        'a coupon without amount_off (a percent_off coupon) cannot be priced; state its USD cost under stripe.costs ("POST /v1/coupons") in the policy to allow it',
    };
  }
  const currency = own(op.params, 'currency');
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) {
    return { invalid: 'an amount_off coupon needs a three-letter currency' };
  }
  return money(amountOff, currency, 'the coupon');
}

/** A price's unit amount and currency: given inline (`price_data`) or read by id. */
async function unitPrice(
  price: unknown,
  lookup: Lookup,
): Promise<{ amount: number; currency: string } | { invalid: string } | { unknown: string }> {
  let object: StripeObject | undefined;
  if (typeof price === 'string') {
    if (!STRIPE_ID.test(price)) return { invalid: 'price must be a Stripe id' };
    object = await read(lookup, `/v1/prices/${price}`);
    if (!object) return { unknown: `price ${price} could not be read to price the call` };
  } else if (price !== null && typeof price === 'object' && !Array.isArray(price)) {
    object = price as StripeObject;
  } else {
    return { unknown: 'the call names no price' };
  }
  const amount = minorUnits(own(object, 'unit_amount'), 'unit_amount');
  if (typeof amount === 'object') return amount;
  if (amount === undefined)
    return { unknown: 'a price without a unit_amount (tiered or metered) cannot be priced' };
  const currency = own(object, 'currency');
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) {
    return { invalid: 'the price has no three-letter currency' };
  }
  return { amount, currency: currency.toLowerCase() };
}

function money(minor: number, currency: string, what: string): CostEstimate {
  if (!Number.isSafeInteger(minor)) return { invalid: `${what} is too large to price` };
  return { cost: { amount: minorToMajor(minor, currency), currency: currency.toLowerCase() } };
}

/** A whole, non-negative amount in minor units; `invalid` says why not; undefined when absent. */
function minorUnits(value: unknown, param: string): number | undefined | { invalid: string } {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && MINOR_UNITS.test(value)) return Number(value);
  return { invalid: `${param} must be a whole, non-negative amount in minor units` };
}

async function read(lookup: Lookup, path: string): Promise<StripeObject | undefined> {
  const object = await lookup?.(path).catch(() => undefined);
  return object !== null && typeof object === 'object' && !Array.isArray(object)
    ? (object as StripeObject)
    : undefined;
}

/** A field the object itself carries, never one inherited through a prototype. */
function own(object: StripeObject, name: string): unknown {
  return Object.hasOwn(object, name) ? object[name] : undefined;
}
