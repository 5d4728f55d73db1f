import type { Money } from '../operation.ts';
import { decodeJsonParams } from '../untrusted-input.ts';
import { minorToMajor } from './currency.ts';
import { decodeFormParams } from './form-params.ts';
import {
  bearer,
  type CostEstimate,
  type EstimateContext,
  FREE,
  recipientFrom,
  unlisted,
  type VendorOperation,
  type VendorProfile,
} from './vendor-profile.ts';

type StripeObject = Record<string, unknown>;
type Lookup = EstimateContext['lookup'];

/** What a Stripe id looks like; anything else is refused before it is put in a lookup path. */
const STRIPE_ID = /^[A-Za-z0-9_]{1,255}$/;
const MINOR_UNITS = /^\d{1,15}$/;
const CURRENCY = /^[A-Za-z]{3}$/;

/** A whole, non-negative amount in minor units, as Stripe accepts it; `invalid` says why not. */
function minorUnits(value: unknown, param: string): number | undefined | { invalid: string } {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && MINOR_UNITS.test(value)) return Number(value);
  return {
    invalid: `${param} must be a whole, non-negative amount in minor units, got ${describe(value)}`,
  };
}

function describe(value: unknown): string {
  const text =
    typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? 'a list' : typeof value;
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** Money from an amount param and a currency param; an estimate that says what is missing or wrong. */
function priced(
  params: Record<string, unknown>,
  amountParam: string,
  what: string,
  currency: unknown = params.currency,
): CostEstimate {
  const amount = minorUnits(params[amountParam], amountParam);
  if (typeof amount === 'object') return amount;
  if (amount === undefined) return { unknown: `${what} needs ${amountParam} to be priced` };
  return moneyOf(amount, currency, what);
}

function moneyOf(amount: number, currency: unknown, what: string): CostEstimate {
  if (currency === undefined) return { unknown: `${what} needs a currency to be priced` };
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) {
    return { invalid: `currency must be a three-letter code, got ${describe(currency)}` };
  }
  return { cost: { amount: minorToMajor(amount, currency), currency: currency.toLowerCase() } };
}

/** Money a Stripe object reports, when its fields are whole non-negative minor units. */
function reported(amount: unknown, currency: unknown): Money | undefined {
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 0) return undefined;
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) return undefined;
  return { amount: minorToMajor(amount, currency), currency: currency.toLowerCase() };
}

function isTrue(value: unknown): boolean {
  return value === true || value === 'true';
}

async function read(lookup: Lookup, path: string): Promise<StripeObject | undefined> {
  const object = await lookup?.(path).catch(() => undefined);
  return object !== null && typeof object === 'object' ? (object as StripeObject) : undefined;
}

/** How one Stripe write is priced before the call, and what money its answer reports after. */
interface StripeOperation {
  method: 'POST' | 'DELETE';
  path: RegExp;
  /** Absent: the operation moves no money. */
  estimate?: (op: VendorOperation, id: string | undefined, lookup: Lookup) => Promise<CostEstimate>;
  /** The money the vendor's answer says moved. Default: the estimate. */
  settle?: (object: StripeObject) => Money | undefined;
}

const ID = '([^/]+)';
const op = (
  method: 'POST' | 'DELETE',
  path: string,
  rest: Partial<StripeOperation> = {},
): StripeOperation => ({
  method,
  path: new RegExp(`^${path.replaceAll(':id', ID)}$`),
  ...rest,
});

const chargeMoney = (o: StripeObject) =>
  reported(o.captured === false ? 0 : (o.amount_captured ?? o.amount), o.currency);

/**
 * Every Stripe write spendguard knows. Money counts once, at the call that moves it: a payment
 * or charge when it is captured (at creation with `confirm`, or at `capture` for a manual
 * capture, since an authorization moves nothing), a refund, an invoice payment, a transfer, a
 * payout, a top-up, and a subscription's first period. Other writes listed here move no money.
 * A write not listed is denied (`cost_unknown`) unless the policy states its cost.
 */
const OPERATIONS: readonly StripeOperation[] = [
  op('POST', '/v1/payment_intents', {
    async estimate({ params }) {
      // Created without confirm, or confirmed for a manual capture: nothing moves yet.
      if (!isTrue(params.confirm) || params.capture_method === 'manual') return FREE;
      return priced(params, 'amount', 'a confirmed PaymentIntent');
    },
    settle: (o) => reported(o.amount, o.currency),
  }),
  op('POST', '/v1/payment_intents/:id/confirm', {
    async estimate(_op, id, lookup) {
      const intent = await read(lookup, `/v1/payment_intents/${id}`);
      if (!intent) return { unknown: 'the PaymentIntent could not be read before confirming it' };
      // A manual capture moves money at capture; requires_action was counted by the confirm that raised it.
      if (intent.capture_method === 'manual' || intent.status === 'requires_action') return FREE;
      const amount = minorUnits(intent.amount, 'amount');
      if (typeof amount !== 'number') return { unknown: 'the PaymentIntent has no amount to price' };
      return moneyOf(amount, intent.currency, 'the PaymentIntent');
    },
    settle: (o) => reported(o.amount, o.currency),
  }),
  op('POST', '/v1/payment_intents/:id/capture', {
    async estimate({ params }, id, lookup) {
      const intent = await read(lookup, `/v1/payment_intents/${id}`);
      if (!intent) return { unknown: 'the PaymentIntent could not be read before capturing it' };
      const given = minorUnits(params.amount_to_capture, 'amount_to_capture');
      if (typeof given === 'object') return given;
      const capturable = minorUnits(intent.amount_capturable ?? intent.amount, 'amount_capturable');
      const amount = given ?? capturable;
      if (typeof amount !== 'number') return { unknown: 'the PaymentIntent has no capturable amount' };
      const estimate = moneyOf(amount, intent.currency, 'the capture');
      return 'cost' in estimate ? { ...estimate, effective: { amount_to_capture: amount } } : estimate;
    },
    settle: (o) => reported(o.amount_received, o.currency),
  }),
  op('POST', '/v1/charges', {
    async estimate({ params }) {
      if (params.capture === false || params.capture === 'false') return FREE; // an authorization
      return priced(params, 'amount', 'a charge');
    },
    settle: chargeMoney,
  }),
  op('POST', '/v1/charges/:id/capture', {
    async estimate({ params }, id, lookup) {
      const charge = await read(lookup, `/v1/charges/${id}`);
      if (!charge) return { unknown: 'the charge could not be read before capturing it' };
      const given = minorUnits(params.amount, 'amount');
      if (typeof given === 'object') return given;
      const total = minorUnits(charge.amount, 'amount');
      if (typeof total !== 'number') return { unknown: 'the charge has no amount to price' };
      const amount = given ?? total;
      const estimate = moneyOf(amount, charge.currency, 'the capture');
      return 'cost' in estimate ? { ...estimate, effective: { amount } } : estimate;
    },
    settle: (o) => reported(o.amount_captured, o.currency),
  }),
  op('POST', '/v1/refunds', {
    estimate: ({ params }, _id, lookup) => estimateRefund(params, lookup),
    settle: (o) => reported(o.amount, o.currency),
  }),
  op('POST', '/v1/invoices/:id/pay', {
    async estimate(_op, id, lookup) {
      const invoice = await read(lookup, `/v1/invoices/${id}`);
      const amount = invoice && minorUnits(invoice.amount_remaining ?? invoice.amount_due, 'amount_due');
      if (typeof amount !== 'number')
        return { unknown: 'the invoice amount could not be read before paying it' };
      return moneyOf(amount, invoice?.currency, 'the invoice');
    },
    settle: (o) => reported(o.amount_paid, o.currency),
  }),
  op('POST', '/v1/transfers', {
    estimate: async ({ params }) => priced(params, 'amount', 'a transfer'),
    settle: (o) => reported(o.amount, o.currency),
  }),
  op('POST', '/v1/payouts', {
    estimate: async ({ params }) => priced(params, 'amount', 'a payout'),
    settle: (o) => reported(o.amount, o.currency),
  }),
  op('POST', '/v1/topups', {
    estimate: async ({ params }) => priced(params, 'amount', 'a top-up'),
    settle: (o) => reported(o.amount, o.currency),
  }),
  op('POST', '/v1/subscriptions', {
    estimate: ({ params }, _id, lookup) => estimateFirstPeriod(params.items, undefined, lookup),
  }),
  op('POST', '/v1/subscriptions/:id', {
    async estimate({ params }, id, lookup) {
      if (!SUBSCRIPTION_MONEY_PARAMS.some((p) => params[p] !== undefined)) return FREE;
      const current = await read(lookup, `/v1/subscriptions/${id}`);
      if (!current) return { unknown: 'the subscription could not be read before updating it' };
      return estimateFirstPeriod(params.items, current, lookup);
    },
  }),
  // Writes that move no money.
  ...[
    '/v1/customers',
    '/v1/customers/:id',
    '/v1/payment_methods/:id',
    '/v1/payment_methods/:id/attach',
    '/v1/payment_methods/:id/detach',
    '/v1/setup_intents',
    '/v1/setup_intents/:id',
    '/v1/setup_intents/:id/confirm',
    '/v1/setup_intents/:id/cancel',
    '/v1/payment_intents/:id',
    '/v1/payment_intents/:id/cancel',
    '/v1/charges/:id',
    '/v1/refunds/:id',
    '/v1/refunds/:id/cancel',
    '/v1/invoices',
    '/v1/invoices/:id',
    '/v1/invoices/:id/finalize',
    '/v1/invoices/:id/void',
    '/v1/invoiceitems',
    '/v1/invoiceitems/:id',
    '/v1/products',
    '/v1/products/:id',
    '/v1/prices',
    '/v1/prices/:id',
  ].map((path) => op('POST', path)),
  op('DELETE', '/v1/customers/:id'),
  op('DELETE', '/v1/invoiceitems/:id'),
  op('DELETE', '/v1/invoices/:id'),
  op('DELETE', '/v1/products/:id'),
  op('DELETE', '/v1/subscriptions/:id'),
];

/** Update params that can bill a subscription at once; an update without them moves no money. */
const SUBSCRIPTION_MONEY_PARAMS = [
  'items',
  'billing_cycle_anchor',
  'proration_behavior',
  'trial_end',
  'add_invoice_items',
];

function find(
  method: string,
  path: string,
): { operation: StripeOperation; id: string | undefined } | undefined {
  for (const operation of OPERATIONS) {
    if (operation.method !== method) continue;
    const match = operation.path.exec(path);
    if (match) return { operation, id: match[1] };
  }
  return undefined;
}

/**
 * Stripe: form bodies with bracket notation, amounts in whole minor units, `Idempotency-Key`
 * honoured. Every write is one of OPERATIONS (priced, or moving no money) or unlisted.
 */
export const stripeProfile: VendorProfile = {
  vendor: 'stripe',
  hosts: ['api.stripe.com'],
  idempotencyHeader: 'Idempotency-Key',
  formEncoded: true,

  accountOf(headers) {
    return headers.get('stripe-account') ?? undefined; // a connected account
  },

  recipientOf(op) {
    // Who is paid or refunded: the customer, a transfer's destination, the refunded charge or
    // payment; else the object in the path (a payment intent being confirmed, an invoice paid).
    const named = recipientFrom(op.params, ['customer', 'destination', 'charge', 'payment_intent']);
    const id = named === undefined ? find(op.method, op.path)?.id : undefined;
    return named ?? (id !== undefined && STRIPE_ID.test(id) ? id : undefined);
  },

  readParams(contentType, body) {
    if (contentType?.includes('json')) {
      const params = decodeJsonParams(body);
      return Array.isArray(params) ? { items: params } : params;
    }
    // Stripe reads only the last of a repeated plain name: a second one would hide from policy.
    return decodeFormParams(body, { duplicates: 'refuse' });
  },

  async estimate(request, { lookup }): Promise<CostEstimate> {
    if (request.method === 'GET' || request.method === 'HEAD') return FREE;
    const found = find(request.method, request.path);
    if (!found) return unlisted('stripe', request);
    const { operation, id } = found;
    if (id !== undefined && !STRIPE_ID.test(id)) {
      return { invalid: `${JSON.stringify(id.slice(0, 40))} in the path is not a Stripe id` };
    }
    return operation.estimate ? operation.estimate(request, id, lookup) : FREE;
  },

  settle(request, body, estimate) {
    const object = body !== null && typeof body === 'object' ? (body as StripeObject) : {};
    const found = find(request.method, request.path);
    // A write priced at nothing (it moves no money, or only authorizes) settles at nothing,
    // whatever object it returns; a priced one settles at what its answer says moved.
    const moved = estimate && estimate.amount > 0 ? found?.operation.settle?.(object) : undefined;
    const cost = moved ?? estimate;
    return {
      ...(cost && { cost }),
      ...(typeof object.id === 'string' && { upstreamObjectId: object.id }),
    };
  },

  authorize: bearer,

  errorResponse(status, code, message) {
    const type =
      status === 400 && code === 'idempotency_mismatch'
        ? 'idempotency_error'
        : status >= 500
          ? 'api_error'
          : 'invalid_request_error';
    // Stripe-Should-Retry: false stops stripe-node's own retries: a refusal does not change on retry.
    return {
      body: { error: { type, code: `spendguard_${code}`, message } },
      headers: { 'stripe-should-retry': 'false' },
    };
  },
};

/**
 * A refund moves its `amount`, or, without one, what is left to refund on the charge or
 * PaymentIntent it names — read from Stripe, and given as the effective `amount` so a policy's
 * `max` checks what will really be refunded.
 */
async function estimateRefund(params: Record<string, unknown>, lookup: Lookup): Promise<CostEstimate> {
  const given = minorUnits(params.amount, 'amount');
  if (typeof given === 'object') return given;
  const target =
    params.charge !== undefined
      ? { param: 'charge', path: '/v1/charges/' }
      : params.payment_intent !== undefined
        ? { param: 'payment_intent', path: '/v1/payment_intents/' }
        : undefined;
  const targetId = target && params[target.param];
  if (target && (typeof targetId !== 'string' || !STRIPE_ID.test(targetId))) {
    return { invalid: `${target.param} must be a Stripe id, got ${describe(targetId)}` };
  }
  if (given !== undefined && typeof params.currency === 'string') {
    return moneyOf(given, params.currency, 'the refund');
  }
  const object = target ? await read(lookup, `${target.path}${targetId}`) : undefined;
  if (!object) {
    return {
      unknown:
        given === undefined
          ? 'a refund without an amount is priced at what is left to refund, and the charge could not be read'
          : 'the refund has no currency and the charge it names could not be read',
    };
  }
  if (given !== undefined) return moneyOf(given, object.currency, 'the refund');
  const total = minorUnits(object.amount_captured ?? object.amount_received ?? object.amount, 'amount');
  const refunded = minorUnits(object.amount_refunded ?? 0, 'amount_refunded');
  if (typeof total !== 'number' || typeof refunded !== 'number') {
    return { unknown: 'the charge does not say how much is left to refund' };
  }
  const left = Math.max(0, total - refunded);
  const estimate = moneyOf(left, object.currency, 'the refund');
  return 'cost' in estimate ? { ...estimate, effective: { amount: left } } : estimate;
}

/**
 * A subscription's first period: each item's unit amount × quantity, in one currency. Items name
 * a price (read from Stripe) or carry `price_data`; an update's items may name an existing item
 * (`id`) of `current`, keeping its price unless they give a new one; without `items`, an update
 * bills the current items.
 */
async function estimateFirstPeriod(
  items: unknown,
  current: StripeObject | undefined,
  lookup: Lookup,
): Promise<CostEstimate> {
  const currentItems = subscriptionItems(current);
  const given = items === undefined ? undefined : Array.isArray(items) ? items : undefined;
  if (items !== undefined && !given) return { invalid: 'items must be a list' };
  const lines: { price: unknown; quantity: unknown }[] = [];
  if (!given) {
    if (!currentItems) return { unknown: 'a subscription needs items to be priced' };
    lines.push(...currentItems.map((item) => ({ price: item.price, quantity: item.quantity })));
  } else {
    for (const raw of given) {
      if (raw === null || typeof raw !== 'object') return { invalid: 'each of items must be an object' };
      const item = raw as StripeObject;
      if (isTrue(item.deleted)) continue;
      const existing = typeof item.id === 'string' ? currentItems?.find((i) => i.id === item.id) : undefined;
      const price = item.price_data ?? item.price ?? existing?.price;
      lines.push({ price, quantity: item.quantity ?? existing?.quantity ?? 1 });
    }
  }
  let total = 0;
  let currency: string | undefined;
  for (const line of lines) {
    const unit = await unitPrice(line.price, lookup);
    if ('invalid' in unit || 'unknown' in unit) return unit;
    const quantity = minorUnits(line.quantity ?? 1, 'quantity');
    if (typeof quantity !== 'number') {
      return typeof quantity === 'object' ? quantity : { invalid: 'quantity must be a whole number' };
    }
    if (currency !== undefined && unit.currency !== currency) {
      return { unknown: 'subscription items in more than one currency cannot be priced' };
    }
    currency = unit.currency;
    total += unit.amount * quantity;
  }
  if (!Number.isSafeInteger(total)) return { invalid: 'the subscription total is too large to price' };
  if (currency === undefined) return FREE;
  return moneyOf(total, currency, 'the subscription');
}

function subscriptionItems(subscription: StripeObject | undefined): StripeObject[] | undefined {
  const items = subscription?.items as { data?: unknown } | undefined;
  return Array.isArray(items?.data) ? (items.data as StripeObject[]) : undefined;
}

/** The unit amount and currency of a price: given inline (`price_data`), as an object, or read by id. */
async function unitPrice(
  price: unknown,
  lookup: Lookup,
): Promise<{ amount: number; currency: string } | { invalid: string } | { unknown: string }> {
  let object: StripeObject | undefined;
  if (typeof price === 'string') {
    if (!STRIPE_ID.test(price)) return { invalid: `price must be a Stripe id, got ${describe(price)}` };
    object = await read(lookup, `/v1/prices/${price}`);
    if (!object) return { unknown: `price ${price} could not be read to price the subscription` };
  } else if (price !== null && typeof price === 'object') {
    object = price as StripeObject;
  } else {
    return { unknown: 'a subscription item names no price' };
  }
  const amount = minorUnits(object.unit_amount, 'unit_amount');
  if (typeof amount === 'object') return amount;
  if (amount === undefined)
    return { unknown: 'a price without a unit_amount (tiered or metered) cannot be priced' };
  const currency = object.currency;
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) {
    return { invalid: `currency must be a three-letter code, got ${describe(currency)}` };
  }
  return { amount, currency: currency.toLowerCase() };
}
