import { randomBytes } from 'node:crypto';
import {
  type ActResult,
  type FakeRequest,
  type FakeResponse,
  jsonResponse,
  type Operation,
} from '../engine.ts';
import type { FaultKind, FaultRequest, StripeFault } from '../faults.ts';
import { type FormParams, parseForm } from '../form.ts';
import { stripeId } from '../ids.ts';
import { noSuch, StripeRequestError, stripeError } from './stripe-errors.ts';
import type { MovementKind, StripeLedger, StripeObject } from './stripe-ledger.ts';
import {
  expandPaths,
  missing,
  optAmount,
  optBool,
  optEnum,
  optString,
  readMetadata,
  requireAmount,
  requireCurrency,
} from './stripe-params.ts';

/** An invoice to create without the API (the fake has no invoice items or subscriptions). */
export interface SeedInvoice {
  /** Minor units. */
  amount_due: number;
  currency: string;
  customer?: string;
  /** Default: a fresh `in_…` id. */
  id?: string;
  /** Default: `'open'`. */
  status?: 'draft' | 'open';
  description?: string;
  metadata?: Record<string, string>;
}

/** Stripe's test cards that decline, by payment method or token. */
const TEST_DECLINES: Record<string, string> = {
  pm_card_chargeDeclined: 'generic_decline',
  tok_chargeDeclined: 'generic_decline',
  pm_card_chargeDeclinedInsufficientFunds: 'insufficient_funds',
  tok_chargeDeclinedInsufficientFunds: 'insufficient_funds',
};

const DECLINE_MESSAGES: Record<string, string> = {
  insufficient_funds: 'Your card has insufficient funds.',
};

const CARD_DECLINE: readonly FaultKind[] = ['card_decline'];

const INTERVALS = ['day', 'week', 'month', 'year'] as const;

function missingInterval(): never {
  throw missing('recurring[interval]');
}

interface Deps {
  ledger: StripeLedger;
  now: () => number;
  takeFault: (request: FaultRequest, kinds: readonly FaultKind[]) => StripeFault | undefined;
}

type Handler = (id: string, params: FormParams, request: FaultRequest) => ActResult;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

interface NewCharge {
  amount: number;
  currency: string;
  customer: string | null;
  capture: boolean;
  paymentMethod: string | null;
  declineCode: string | undefined;
  description?: string | null;
  metadata?: Record<string, string>;
  paymentIntent?: string;
  invoice?: string;
}

/** The fake's resources: customers, PaymentIntents, charges, refunds, prices, payment links and invoices. */
export class StripeApi {
  readonly #deps: Deps;
  readonly #routes: Route[];
  /** Captured money refunded so far, per charge (amount_refunded also counts released authorizations). */
  readonly #refunded = new Map<string, number>();

  constructor(deps: Deps) {
    this.#deps = deps;
    const id = '([^/]+)';
    const route = (method: string, path: string, handler: Handler): Route => ({
      method,
      pattern: new RegExp(`^${path.replace(':id', id)}$`),
      handler,
    });
    this.#routes = [
      route('POST', '/v1/customers', (_, p) => this.#createCustomer(p)),
      route('GET', '/v1/customers/:id', (i, p) => this.#retrieve('customer', i, p)),
      route('POST', '/v1/payment_intents', (_, p, r) => this.#createPaymentIntent(p, r)),
      route('GET', '/v1/payment_intents/:id', (i, p) => this.#retrieve('payment_intent', i, p)),
      route('POST', '/v1/payment_intents/:id/confirm', (i, p, r) =>
        this.#confirm(this.#find('payment_intent', i), p, r),
      ),
      route('POST', '/v1/payment_intents/:id/capture', (i, p) => this.#capturePaymentIntent(i, p)),
      route('POST', '/v1/payment_intents/:id/cancel', (i, p) => this.#cancelPaymentIntent(i, p)),
      route('POST', '/v1/charges', (_, p, r) => this.#createCharge(p, r)),
      route('GET', '/v1/charges/:id', (i, p) => this.#retrieve('charge', i, p)),
      route('POST', '/v1/charges/:id/capture', (i, p) => this.#captureChargeById(i, p)),
      route('POST', '/v1/refunds', (_, p) => this.#createRefund(p)),
      route('GET', '/v1/refunds/:id', (i, p) => this.#retrieve('refund', i, p)),
      route('POST', '/v1/prices', (_, p) => this.#createPrice(p)),
      route('GET', '/v1/prices/:id', (i, p) => this.#retrieve('price', i, p)),
      route('POST', '/v1/payment_links', (_, p) => this.#createPaymentLink(p)),
      route('GET', '/v1/payment_links/:id', (i, p) => this.#retrieve('payment_link', i, p)),
      route('GET', '/v1/invoices/:id', (i, p) => this.#retrieve('invoice', i, p)),
      route('POST', '/v1/invoices/:id/pay', (i, p, r) => this.#payInvoice(i, p, r)),
    ];
  }

  route(request: FakeRequest): Operation<FormParams> | FakeResponse {
    for (const { method, pattern, handler } of this.#routes) {
      if (method !== request.method) continue;
      const match = pattern.exec(request.path);
      if (!match) continue;
      const id = decodeURIComponent(match[1] ?? '');
      // Stripe reads POST parameters from the body and GET ones (such as expand[]) from the query.
      const params = parseForm(request.method === 'POST' ? request.body : request.query);
      return {
        params,
        idempotent: request.method === 'POST',
        act: (faultRequest) => {
          try {
            return handler(id, params, faultRequest);
          } catch (error) {
            // Refused before acting: not stored under the idempotency key.
            if (error instanceof StripeRequestError) return { response: error.toResponse(), keep: false };
            throw error;
          }
        },
      };
    }
    return stripeError(
      404,
      {
        type: 'invalid_request_error',
        message: `Unrecognized request URL (${request.method}: ${request.path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      },
      { shouldRetry: false },
    );
  }

  seedInvoice(seed: SeedInvoice): StripeObject {
    if (!Number.isSafeInteger(seed.amount_due) || seed.amount_due < 0) {
      throw new RangeError(
        `amount_due must be a non-negative integer in minor units, got ${seed.amount_due}`,
      );
    }
    const invoice: StripeObject = {
      id: seed.id ?? stripeId('in'),
      object: 'invoice',
      amount_due: seed.amount_due,
      amount_paid: 0,
      amount_remaining: seed.amount_due,
      attempt_count: 0,
      attempted: false,
      auto_advance: true,
      collection_method: 'charge_automatically',
      created: this.#created(),
      currency: seed.currency.toLowerCase(),
      customer: seed.customer ?? null,
      description: seed.description ?? null,
      livemode: false,
      metadata: { ...seed.metadata },
      paid_out_of_band: false,
      status: seed.status ?? 'open',
      status_transitions: {
        finalized_at: null,
        marked_uncollectible_at: null,
        paid_at: null,
        voided_at: null,
      },
      subtotal: seed.amount_due,
      total: seed.amount_due,
    };
    this.#deps.ledger.put(invoice);
    return invoice;
  }

  reset(): void {
    this.#refunded.clear();
  }

  // Customers

  #createCustomer(p: FormParams): ActResult {
    const customer: StripeObject = {
      id: stripeId('cus', 14),
      object: 'customer',
      address: null,
      balance: 0,
      created: this.#created(),
      currency: null,
      default_source: null,
      delinquent: false,
      description: optString(p, 'description') ?? null,
      email: optString(p, 'email') ?? null,
      invoice_settings: {
        custom_fields: null,
        default_payment_method: optString(p, 'payment_method') ?? null,
        footer: null,
      },
      livemode: false,
      metadata: readMetadata(p),
      name: optString(p, 'name') ?? null,
      phone: optString(p, 'phone') ?? null,
      preferred_locales: [],
      shipping: null,
      tax_exempt: 'none',
      test_clock: null,
    };
    this.#deps.ledger.put(customer);
    return this.#ok(customer, p);
  }

  // PaymentIntents

  #createPaymentIntent(p: FormParams, request: FaultRequest): ActResult {
    const amount = requireAmount(p);
    const currency = requireCurrency(p);
    const customer = this.#optCustomer(p);
    const captureMethod = optEnum(p, 'capture_method', ['automatic', 'automatic_async', 'manual'] as const);
    const paymentMethod = this.#paymentMethodFrom(p);
    const confirm = optBool(p, 'confirm') ?? false;
    if (confirm && paymentMethod === undefined) throw missingPaymentMethod();
    const id = stripeId('pi');
    const intent: StripeObject = {
      id,
      object: 'payment_intent',
      amount,
      amount_capturable: 0,
      amount_received: 0,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: captureMethod ?? 'automatic_async',
      client_secret: `${id}_secret_${randomBytes(12).toString('hex')}`,
      confirmation_method: 'automatic',
      created: this.#created(),
      currency,
      customer: customer ?? null,
      description: optString(p, 'description') ?? null,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: readMetadata(p),
      payment_method: paymentMethod ?? null,
      payment_method_types: ['card'],
      receipt_email: optString(p, 'receipt_email') ?? null,
      status: paymentMethod === undefined ? 'requires_payment_method' : 'requires_confirmation',
    };
    this.#deps.ledger.put(intent);
    return confirm ? this.#confirm(intent, {}, request, p) : this.#ok(intent, p);
  }

  #confirm(intent: StripeObject, p: FormParams, request: FaultRequest, render: FormParams = p): ActResult {
    if (intent.status !== 'requires_payment_method' && intent.status !== 'requires_confirmation') {
      throw new StripeRequestError(
        `You cannot confirm this PaymentIntent because it has a status of ${String(intent.status)}.`,
        { code: 'payment_intent_unexpected_state' },
      );
    }
    const paymentMethod = this.#paymentMethodFrom(p) ?? (intent.payment_method as string | null) ?? undefined;
    if (paymentMethod === undefined) throw missingPaymentMethod();
    const declineCode = this.#declineFor(paymentMethod, request);
    const manual = intent.capture_method === 'manual';
    const charge = this.#newCharge({
      amount: intent.amount as number,
      currency: intent.currency as string,
      customer: intent.customer as string | null,
      capture: !manual,
      paymentMethod,
      declineCode,
      description: intent.description as string | null,
      metadata: intent.metadata as Record<string, string>,
      paymentIntent: intent.id,
    });
    intent.latest_charge = charge.id;
    if (declineCode !== undefined) {
      const error = declineError(declineCode, charge.id);
      Object.assign(intent, {
        status: 'requires_payment_method',
        payment_method: null,
        last_payment_error: { ...error, payment_method: { id: paymentMethod, object: 'payment_method' } },
      });
      return this.#declined({ ...error, payment_intent: structuredClone(intent) });
    }
    Object.assign(intent, { payment_method: paymentMethod, last_payment_error: null });
    if (manual) {
      Object.assign(intent, { status: 'requires_capture', amount_capturable: intent.amount });
    } else {
      Object.assign(intent, { status: 'succeeded', amount_received: intent.amount });
      this.#move('payment_intent', intent, intent.amount as number);
    }
    return this.#ok(intent, render);
  }

  #capturePaymentIntent(id: string, p: FormParams): ActResult {
    const intent = this.#find('payment_intent', id);
    if (intent.status !== 'requires_capture') {
      throw new StripeRequestError(
        `This PaymentIntent could not be captured because it has a status of ${String(intent.status)}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`,
        { code: 'payment_intent_unexpected_state' },
      );
    }
    const capturable = intent.amount_capturable as number;
    const amount = optAmount(p, 'amount_to_capture') ?? capturable;
    if (amount > capturable) {
      throw new StripeRequestError(
        `The amount_to_capture (${amount}) must be less than or equal to the amount capturable (${capturable}).`,
        { param: 'amount_to_capture', code: 'amount_too_large' },
      );
    }
    this.#capture(this.#find('charge', intent.latest_charge as string), amount);
    return this.#ok(intent, p);
  }

  #cancelPaymentIntent(id: string, p: FormParams): ActResult {
    const intent = this.#find('payment_intent', id);
    const cancellable = ['requires_payment_method', 'requires_confirmation', 'requires_capture'];
    if (!cancellable.includes(intent.status as string)) {
      throw new StripeRequestError(
        `You cannot cancel this PaymentIntent because it has a status of ${String(intent.status)}.`,
        { code: 'payment_intent_unexpected_state' },
      );
    }
    if (intent.status === 'requires_capture')
      this.#release(this.#find('charge', intent.latest_charge as string));
    Object.assign(intent, {
      status: 'canceled',
      amount_capturable: 0,
      canceled_at: this.#created(),
      cancellation_reason:
        optEnum(p, 'cancellation_reason', [
          'duplicate',
          'fraudulent',
          'requested_by_customer',
          'abandoned',
        ]) ?? null,
    });
    return this.#ok(intent, p);
  }

  // Charges

  #createCharge(p: FormParams, request: FaultRequest): ActResult {
    const amount = requireAmount(p);
    const currency = requireCurrency(p);
    const customer = this.#optCustomer(p);
    const source = optString(p, 'source');
    if (source === undefined && customer === undefined) {
      throw new StripeRequestError('Must provide source or customer.', { param: 'source' });
    }
    const capture = optBool(p, 'capture') ?? true;
    const declineCode = this.#declineFor(source, request);
    const charge = this.#newCharge({
      amount,
      currency,
      customer: customer ?? null,
      capture,
      paymentMethod: source ?? null,
      declineCode,
      description: optString(p, 'description') ?? null,
      metadata: readMetadata(p),
    });
    if (declineCode !== undefined) return this.#declined(declineError(declineCode, charge.id));
    if (capture) this.#move('charge', charge, amount);
    return this.#ok(charge, p);
  }

  #captureChargeById(id: string, p: FormParams): ActResult {
    const charge = this.#find('charge', id);
    if (charge.status === 'failed') {
      throw new StripeRequestError(`Charge ${id} failed and cannot be captured.`, { param: 'charge' });
    }
    if (charge.captured) {
      throw new StripeRequestError(`Charge ${id} has already been captured.`, {
        code: 'charge_already_captured',
      });
    }
    if (charge.refunded) {
      throw new StripeRequestError(`Charge ${id} has already been refunded.`, {
        code: 'charge_already_refunded',
      });
    }
    const amount = optAmount(p, 'amount') ?? (charge.amount as number);
    if (amount > (charge.amount as number)) {
      throw new StripeRequestError(
        `The amount to capture (${amount}) must be less than or equal to the charge amount (${String(charge.amount)}).`,
        { param: 'amount', code: 'amount_too_large' },
      );
    }
    this.#capture(charge, amount);
    return this.#ok(charge, p);
  }

  // Refunds

  #createRefund(p: FormParams): ActResult {
    const chargeId = optString(p, 'charge');
    const intentId = optString(p, 'payment_intent');
    if (chargeId === undefined && intentId === undefined) {
      throw new StripeRequestError(
        'One of the following params should be provided for this request: payment_intent or charge.',
        { code: 'parameter_missing' },
      );
    }
    let charge: StripeObject;
    if (intentId !== undefined) {
      const intent = this.#find('payment_intent', intentId, 'payment_intent');
      const latest = intent.latest_charge ? this.#deps.ledger.get(intent.latest_charge as string) : undefined;
      if (latest === undefined || latest.status !== 'succeeded') {
        throw new StripeRequestError(
          `This PaymentIntent (${intentId}) does not have a successful charge to refund.`,
          {
            param: 'payment_intent',
          },
        );
      }
      charge = latest;
    } else {
      charge = this.#find('charge', chargeId as string, 'charge');
    }
    if (charge.status !== 'succeeded') {
      throw new StripeRequestError(`Charge ${charge.id} failed and cannot be refunded.`, { param: 'charge' });
    }
    const reason = optEnum(p, 'reason', ['duplicate', 'fraudulent', 'requested_by_customer'] as const);
    const refund = (amount: number): StripeObject => {
      const object: StripeObject = {
        id: stripeId('re'),
        object: 'refund',
        amount,
        balance_transaction: charge.captured ? stripeId('txn') : null,
        charge: charge.id,
        created: this.#created(),
        currency: charge.currency,
        metadata: readMetadata(p),
        payment_intent: charge.payment_intent,
        reason: reason ?? null,
        receipt_number: null,
        status: 'succeeded',
      };
      this.#deps.ledger.put(object);
      return object;
    };

    if (!charge.captured) {
      // Refunding an authorization releases it: nothing had moved, nothing moves back.
      if (charge.refunded) throw alreadyRefunded(charge.id);
      const released = refund(charge.amount as number);
      this.#release(charge);
      if (typeof charge.payment_intent === 'string') {
        Object.assign(this.#find('payment_intent', charge.payment_intent), {
          status: 'canceled',
          amount_capturable: 0,
          canceled_at: this.#created(),
        });
      }
      return this.#ok(released, p);
    }
    const refundedSoFar = this.#refunded.get(charge.id) ?? 0;
    const refundable = (charge.amount_captured as number) - refundedSoFar;
    if (refundable <= 0) throw alreadyRefunded(charge.id);
    const amount = optAmount(p, 'amount') ?? refundable;
    if (amount > refundable) {
      throw new StripeRequestError(
        `Refund amount (${amount}) is greater than unrefunded amount on charge (${refundable}).`,
        { param: 'amount', code: 'amount_too_large' },
      );
    }
    const created = refund(amount);
    this.#refunded.set(charge.id, refundedSoFar + amount);
    const amountRefunded = (charge.amount_refunded as number) + amount;
    Object.assign(charge, {
      amount_refunded: amountRefunded,
      refunded: amountRefunded >= (charge.amount as number),
    });
    this.#move('refund', created, amount);
    return this.#ok(created, p);
  }

  // Prices and payment links (they move no money: a link is a page a customer may pay on)

  #createPrice(p: FormParams): ActResult {
    const currency = requireCurrency(p);
    const unitAmount = optString(p, 'unit_amount');
    if (unitAmount === undefined) throw missing('unit_amount');
    if (!/^\d+$/.test(unitAmount) || !Number.isSafeInteger(Number(unitAmount))) {
      throw new StripeRequestError(`Invalid integer: ${unitAmount}`, {
        param: 'unit_amount',
        code: 'parameter_invalid_integer',
      });
    }
    // The fake keeps no products: `product` is taken as given, `product_data` names a new one.
    const product =
      optString(p, 'product') ?? (p.product_data === undefined ? undefined : stripeId('prod', 14));
    if (product === undefined) {
      throw new StripeRequestError(
        'You must specify either `product` or `product_data` when creating a price.',
        {
          param: 'product',
          code: 'parameter_missing',
        },
      );
    }
    const recurring = p.recurring;
    if (recurring !== undefined && (typeof recurring !== 'object' || Array.isArray(recurring))) {
      throw new StripeRequestError('Invalid object', { param: 'recurring' });
    }
    const recurringInterval =
      recurring === undefined ? undefined : (optEnum(recurring, 'interval', INTERVALS) ?? missingInterval());
    const price: StripeObject = {
      id: stripeId('price'),
      object: 'price',
      active: true,
      billing_scheme: 'per_unit',
      created: this.#created(),
      currency,
      livemode: false,
      lookup_key: optString(p, 'lookup_key') ?? null,
      metadata: readMetadata(p),
      nickname: optString(p, 'nickname') ?? null,
      product,
      recurring:
        recurringInterval === undefined
          ? null
          : { interval: recurringInterval, interval_count: 1, usage_type: 'licensed' },
      type: recurringInterval === undefined ? 'one_time' : 'recurring',
      unit_amount: Number(unitAmount),
      unit_amount_decimal: unitAmount,
    };
    this.#deps.ledger.put(price);
    return this.#ok(price, p);
  }

  #createPaymentLink(p: FormParams): ActResult {
    const items = p.line_items;
    const list = Array.isArray(items) ? items : typeof items === 'object' ? Object.values(items) : undefined;
    if (list === undefined || list.length === 0) throw missing('line_items');
    if (list.length > 20) {
      throw new StripeRequestError('A payment link can have at most 20 line items.', { param: 'line_items' });
    }
    const prices = list.map((item, index) => {
      if (typeof item !== 'object' || Array.isArray(item)) {
        throw new StripeRequestError('Invalid object', { param: `line_items[${index}]` });
      }
      const id = optString(item, 'price');
      if (id === undefined) throw missing(`line_items[${index}][price]`);
      const price = this.#find('price', id, `line_items[${index}][price]`);
      const quantity = optAmount(item, 'quantity');
      if (quantity === undefined) throw missing(`line_items[${index}][quantity]`);
      return price;
    });
    const currencies = new Set(prices.map((price) => price.currency));
    if (currencies.size > 1) {
      throw new StripeRequestError('All prices on a payment link must have the same currency.', {
        param: 'line_items',
      });
    }
    const id = stripeId('plink');
    const afterCompletion = p.after_completion;
    const link: StripeObject = {
      id,
      object: 'payment_link',
      active: true,
      after_completion:
        afterCompletion !== undefined &&
        typeof afterCompletion === 'object' &&
        !Array.isArray(afterCompletion)
          ? structuredClone(afterCompletion)
          : { type: 'hosted_confirmation', hosted_confirmation: { custom_message: null } },
      currency: prices[0]?.currency,
      livemode: false,
      metadata: readMetadata(p),
      url: `https://buy.stripe.com/test_${id.slice('plink_'.length)}`,
    };
    this.#deps.ledger.put(link);
    return this.#ok(link, p);
  }

  // Invoices

  #payInvoice(id: string, p: FormParams, request: FaultRequest): ActResult {
    const invoice = this.#find('invoice', id);
    if (invoice.status === 'paid') throw new StripeRequestError('Invoice is already paid.');
    if (invoice.status !== 'open' && invoice.status !== 'draft') {
      throw new StripeRequestError(`You cannot pay an invoice with status ${String(invoice.status)}.`);
    }
    const amount = invoice.amount_remaining as number;
    const paid = (): void => {
      Object.assign(invoice, {
        status: 'paid',
        amount_paid: (invoice.amount_paid as number) + amount,
        amount_remaining: 0,
        status_transitions: {
          ...(invoice.status_transitions as object),
          finalized_at: this.#created(),
          paid_at: this.#created(),
        },
      });
    };
    if (optBool(p, 'paid_out_of_band')) {
      // Paid outside Stripe: the invoice closes, no money moves here.
      invoice.paid_out_of_band = true;
      paid();
      return this.#ok(invoice, p);
    }
    if (amount === 0) {
      paid();
      return this.#ok(invoice, p);
    }
    const paymentMethod = optString(p, 'payment_method') ?? null;
    const declineCode = this.#declineFor(paymentMethod ?? undefined, request);
    const charge = this.#newCharge({
      amount,
      currency: invoice.currency as string,
      customer: invoice.customer as string | null,
      capture: true,
      paymentMethod,
      declineCode,
      invoice: invoice.id,
    });
    Object.assign(invoice, { attempted: true, attempt_count: (invoice.attempt_count as number) + 1 });
    if (declineCode !== undefined) return this.#declined(declineError(declineCode, charge.id));
    paid();
    this.#move('invoice_payment', invoice, amount);
    return this.#ok(invoice, p);
  }

  // Shared

  #newCharge(spec: NewCharge): StripeObject {
    const declined = spec.declineCode !== undefined;
    const captured = spec.capture && !declined;
    const charge: StripeObject = {
      id: stripeId('ch'),
      object: 'charge',
      amount: spec.amount,
      amount_captured: captured ? spec.amount : 0,
      amount_refunded: 0,
      balance_transaction: captured ? stripeId('txn') : null,
      captured,
      created: this.#created(),
      currency: spec.currency,
      customer: spec.customer,
      description: spec.description ?? null,
      disputed: false,
      failure_code: declined ? 'card_declined' : null,
      failure_message: declined ? declineMessage(spec.declineCode as string) : null,
      invoice: spec.invoice ?? null,
      livemode: false,
      metadata: { ...spec.metadata },
      outcome: declined
        ? {
            network_status: 'declined_by_network',
            reason: spec.declineCode,
            risk_level: 'normal',
            seller_message: 'The bank did not return any further details with this decline.',
            type: 'issuer_declined',
          }
        : {
            network_status: 'approved_by_network',
            reason: null,
            risk_level: 'normal',
            seller_message: 'Payment complete.',
            type: 'authorized',
          },
      paid: !declined,
      payment_intent: spec.paymentIntent ?? null,
      payment_method: spec.paymentMethod,
      refunded: false,
      status: declined ? 'failed' : 'succeeded',
    };
    this.#deps.ledger.put(charge);
    return charge;
  }

  /** Captures `amount` of an authorized charge; the rest of the authorization is released. */
  #capture(charge: StripeObject, amount: number): void {
    Object.assign(charge, {
      captured: true,
      amount_captured: amount,
      amount_refunded: (charge.amount as number) - amount,
      refunded: false,
      balance_transaction: stripeId('txn'),
    });
    if (typeof charge.payment_intent === 'string') {
      const intent = this.#find('payment_intent', charge.payment_intent);
      Object.assign(intent, { status: 'succeeded', amount_received: amount, amount_capturable: 0 });
      this.#move('payment_intent', intent, amount);
    } else {
      this.#move('charge', charge, amount);
    }
  }

  #release(charge: StripeObject): void {
    Object.assign(charge, { amount_refunded: charge.amount, refunded: true });
  }

  /** The decline for this attempt: a declining test card, else an armed `card_decline` fault. */
  #declineFor(paymentMethod: string | undefined, request: FaultRequest): string | undefined {
    const byCard = paymentMethod === undefined ? undefined : TEST_DECLINES[paymentMethod];
    if (byCard !== undefined) return byCard;
    const fault = this.#deps.takeFault(request, CARD_DECLINE);
    return fault?.kind === 'card_decline' ? (fault.declineCode ?? 'generic_decline') : undefined;
  }

  /** A card decline acted (a failed charge exists), so Stripe stores it under the idempotency key. */
  #declined(error: ReturnType<typeof declineError> & { payment_intent?: unknown }): ActResult {
    return { response: stripeError(402, error, { shouldRetry: false }), keep: true };
  }

  #paymentMethodFrom(p: FormParams): string | undefined {
    const id = optString(p, 'payment_method');
    if (id !== undefined) return id;
    const data = p.payment_method_data;
    if (data !== undefined && typeof data === 'object' && !Array.isArray(data)) {
      if (data.type === undefined) {
        throw new StripeRequestError('Missing required param: payment_method_data[type].', {
          param: 'payment_method_data[type]',
          code: 'parameter_missing',
        });
      }
      return stripeId('pm');
    }
    return undefined;
  }

  #optCustomer(p: FormParams): string | undefined {
    const id = optString(p, 'customer');
    if (id !== undefined) this.#find('customer', id, 'customer');
    return id;
  }

  #find(type: string, id: string, param?: string): StripeObject {
    const object = this.#deps.ledger.get(id);
    if (object?.object !== type) {
      throw param === undefined ? noSuch(type, id, 'id', 404) : noSuch(type, id, param);
    }
    return object;
  }

  #retrieve(type: string, id: string, p: FormParams): ActResult {
    return this.#ok(this.#find(type, id), p);
  }

  #move(kind: MovementKind, object: StripeObject, amount: number): void {
    if (amount <= 0) return;
    this.#deps.ledger.move({
      kind,
      objectId: object.id,
      amount,
      currency: object.currency as string,
      at: this.#deps.now(),
    });
  }

  /** The answer as of now (later changes to the object do not alter it), with `expand[]` applied. */
  #ok(object: StripeObject, p: FormParams): ActResult {
    const copy = structuredClone(object);
    for (const path of expandPaths(p)) this.#expand(copy, path.split('.'));
    return { response: jsonResponse(200, copy), keep: true };
  }

  #expand(target: Record<string, unknown>, [field, ...rest]: string[]): void {
    if (field === undefined) return;
    let value = target[field];
    if (typeof value === 'string') {
      const object = this.#deps.ledger.get(value);
      if (object !== undefined) {
        value = structuredClone(object);
        target[field] = value;
      }
    }
    if (rest.length > 0 && value !== null && typeof value === 'object') {
      this.#expand(value as Record<string, unknown>, rest);
    }
  }

  #created(): number {
    return Math.floor(this.#deps.now() / 1000);
  }
}

function declineMessage(code: string): string {
  return DECLINE_MESSAGES[code] ?? 'Your card was declined.';
}

function declineError(declineCode: string, chargeId: string) {
  return {
    type: 'card_error' as const,
    code: 'card_declined',
    decline_code: declineCode,
    message: declineMessage(declineCode),
    charge: chargeId,
  };
}

function missingPaymentMethod(): StripeRequestError {
  return new StripeRequestError(
    "You cannot confirm this PaymentIntent because it's missing a payment method. Update it with a payment_method (for example pm_card_visa) or pass one when confirming.",
    { code: 'payment_intent_unexpected_state' },
  );
}

function alreadyRefunded(chargeId: string): StripeRequestError {
  return new StripeRequestError(`Charge ${chargeId} has already been refunded.`, {
    code: 'charge_already_refunded',
  });
}
