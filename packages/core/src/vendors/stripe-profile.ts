import type { Money } from '../operation.ts';
import { minorToMajor } from './currency.ts';
import { decodeFormParams } from './form-params.ts';
import {
  bearer,
  type CostEstimate,
  FREE,
  type VendorOperation,
  type VendorProfile,
} from './vendor-profile.ts';

type StripeObject = Record<string, unknown>;

function money(amount: unknown, currency: unknown): Money | undefined {
  const n = typeof amount === 'string' ? Number(amount) : amount;
  if (typeof n !== 'number' || !Number.isFinite(n) || typeof currency !== 'string') return undefined;
  return { amount: minorToMajor(n, currency), currency: currency.toLowerCase() };
}

/** The money a Stripe object commits, in major units: what a cap counts. */
function committed(object: StripeObject): Money | undefined {
  switch (object.object) {
    case 'charge':
      return money(
        object.captured === false ? object.amount : (object.amount_captured ?? object.amount),
        object.currency,
      );
    case 'payment_intent':
      return money(object.amount, object.currency);
    case 'refund':
      return money(object.amount, object.currency);
    case 'invoice':
      return money(object.amount_paid ?? object.amount_due, object.currency);
    default:
      return undefined;
  }
}

const PI_ACTION = /^\/v1\/payment_intents\/[^/]+\/(confirm|capture)$/;
const CHARGE_CAPTURE = /^\/v1\/charges\/[^/]+\/capture$/;
const INVOICE_PAY = /^\/v1\/invoices\/([^/]+)\/pay$/;

/**
 * Stripe: form bodies with bracket notation, amounts in minor units, `Idempotency-Key` honoured.
 * Money is counted where it is committed: a PaymentIntent or Charge at creation (confirm and
 * capture then move what was already counted), a refund and an invoice payment when made.
 */
export const stripeProfile: VendorProfile = {
  vendor: 'stripe',
  hosts: ['api.stripe.com'],
  idempotencyHeader: 'Idempotency-Key',

  readParams(contentType, body) {
    if (contentType?.includes('json')) return JSON.parse(body || '{}') as Record<string, unknown>;
    return decodeFormParams(body);
  },

  async estimate(op: VendorOperation, { lookup }): Promise<CostEstimate> {
    if (op.method !== 'POST') return FREE;
    const { path, params } = op;
    if (path === '/v1/payment_intents' || path === '/v1/charges') {
      const cost = money(params.amount, params.currency);
      return cost ? { cost } : { unknown: `${path} needs an amount and a currency to be priced` };
    }
    if (PI_ACTION.test(path) || CHARGE_CAPTURE.test(path)) return FREE; // counted at creation
    if (path === '/v1/refunds') {
      if (params.amount !== undefined) {
        const currency = params.currency ?? (await refundable(params, lookup))?.currency;
        const cost = money(params.amount, currency);
        if (cost) return { cost };
      }
      const left = await refundable(params, lookup);
      return left
        ? { cost: left }
        : { unknown: 'a refund without an amount cannot be priced before the call' };
    }
    const invoice = INVOICE_PAY.exec(path);
    if (invoice) {
      const object = (await lookup?.(`/v1/invoices/${invoice[1]}`).catch(() => undefined)) as
        | StripeObject
        | undefined;
      const cost = object && money(object.amount_remaining ?? object.amount_due, object.currency);
      return cost ? { cost } : { unknown: 'the invoice amount could not be read before paying it' };
    }
    return FREE; // customers, and other cost-free writes the policy allows
  },

  settle(_op, body, estimate) {
    const object = (body ?? {}) as StripeObject;
    const cost = committed(object) ?? estimate;
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

/** What is left to refund on the charge or PaymentIntent a refund names, read from Stripe. */
async function refundable(
  params: Record<string, unknown>,
  lookup: ((path: string) => Promise<unknown>) | undefined,
): Promise<Money | undefined> {
  if (!lookup) return undefined;
  const path =
    typeof params.charge === 'string'
      ? `/v1/charges/${params.charge}`
      : typeof params.payment_intent === 'string'
        ? `/v1/payment_intents/${params.payment_intent}`
        : undefined;
  if (!path) return undefined;
  const object = (await lookup(path).catch(() => undefined)) as StripeObject | undefined;
  if (!object) return undefined;
  const total = Number(object.amount_captured ?? object.amount_received ?? object.amount);
  const refunded = Number(object.amount_refunded ?? 0);
  return money(total - refunded, object.currency);
}
