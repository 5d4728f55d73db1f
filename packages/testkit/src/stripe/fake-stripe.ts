import { createHandle, type FakeRequest, type FakeResponse, type Handle } from '../engine.ts';
import { type FakeVendor, withTransports } from '../fake-vendor.ts';
import { Faults, type StripeFault } from '../faults.ts';
import { IDEMPOTENCY_TTL_MS, IdempotencyStore } from '../idempotency.ts';
import { stripeId } from '../ids.ts';
import { type SeedInvoice, StripeApi } from './stripe-api.ts';
import { stripeError } from './stripe-errors.ts';
import { StripeLedger, type StripeObject } from './stripe-ledger.ts';

export const STRIPE_ORIGIN = 'https://api.stripe.com';
/** The API version reported when the client sends no `Stripe-Version`: the one stripe 23.1 pins. */
const DEFAULT_API_VERSION = '2026-10-28.endive';

export interface FakeStripeOptions {
  /** The secret key clients must send (Bearer, or Basic with the key as user). Default: `'sk_test_spendguard'`. */
  secretKey?: string;
  /** Invoices that exist from the start, and again after `reset()`. Default: none. */
  invoices?: SeedInvoice[];
  /** The clock in ms since the epoch: `created` fields and idempotency-key expiry. Default: `Date.now`. */
  now?: () => number;
  /** How long an idempotency key is remembered. Default: 24 h, as at Stripe. */
  idempotencyTtlMs?: number;
}

export interface FakeStripe extends FakeVendor<StripeLedger, StripeFault> {
  readonly secretKey: string;
  /** Creates an open invoice to pay with `POST /v1/invoices/:id/pay`; returns it. */
  seedInvoice(invoice: SeedInvoice): StripeObject;
}

/**
 * A fake Stripe API: customers, PaymentIntents, charges, refunds and invoice payments, with
 * Stripe's authentication, error shapes and idempotency layer.
 */
export function createFakeStripe(options: FakeStripeOptions = {}): FakeStripe {
  const secretKey = options.secretKey ?? 'sk_test_spendguard';
  const now = options.now ?? Date.now;
  const ledger = new StripeLedger();
  const faults = new Faults<StripeFault>();
  const takeFault = faults.take.bind(faults);
  const api = new StripeApi({ ledger, now, takeFault });
  const keys = new IdempotencyStore({ ttlMs: options.idempotencyTtlMs ?? IDEMPOTENCY_TTL_MS, now });
  // Seeded once so their ids stay the same across reset().
  const seeds = (options.invoices ?? []).map((seed) => ({ ...seed, id: seed.id ?? stripeId('in') }));
  const seed = () => {
    for (const invoice of seeds) api.seedInvoice(invoice);
  };
  seed();

  const core = createHandle({
    takeFault,
    now,
    authenticate: (request) => authenticate(request, secretKey),
    credentialOf: (request) => ({ user: '', secret: readKey(request) ?? '' }),
    route: (request) => api.route(request),
    rateLimited: () =>
      stripeError(429, {
        type: 'invalid_request_error',
        code: 'rate_limit',
        message:
          'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.',
      }),
    serverError: (status) =>
      stripeError(
        status,
        { type: 'api_error', message: 'Sorry, something went wrong. We have been notified of the problem.' },
        // The idempotency layer would replay this 500, so a retry cannot learn anything new.
        { shouldRetry: false },
      ),
    idempotency: {
      store: keys,
      maxKeyLength: 255,
      invalidKey: (key) =>
        stripeError(
          400,
          {
            type: 'invalid_request_error',
            message: `Invalid idempotency key: '${key.slice(0, 20)}…'. Keys must be at most 255 characters long.`,
          },
          { shouldRetry: false },
        ),
      inFlight: () =>
        stripeError(409, {
          type: 'invalid_request_error',
          code: 'idempotency_key_in_use',
          message:
            'There is currently another in-progress request using this idempotent key (that probably means you submitted twice, and the other request is still going through). Please try again later.',
        }),
      mismatch: (key) =>
        stripeError(
          400,
          {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          },
          { shouldRetry: false },
        ),
      replayHeaders: { 'idempotent-replayed': 'true' },
      keepsInjectedFailure: true,
    },
    record: (entry) => ledger.recordRequest(entry),
  });

  return withTransports(STRIPE_ORIGIN, withStripeHeaders(core), {
    secretKey,
    ledger,
    faults,
    seedInvoice: (invoice: SeedInvoice) => api.seedInvoice(invoice),
    reset() {
      ledger.clear();
      faults.clear();
      keys.clear();
      api.reset();
      seed();
    },
  });
}

/** The key from `Authorization: Bearer sk_…` or `Basic base64(sk_…:)`. */
function readKey(request: FakeRequest): string | undefined {
  const header = request.headers.get('authorization');
  if (!header) return undefined;
  const [scheme = '', value = ''] = header.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === 'bearer') return value;
  if (scheme.toLowerCase() === 'basic') return Buffer.from(value, 'base64').toString('utf8').split(':')[0];
  return undefined;
}

function authenticate(request: FakeRequest, secretKey: string): FakeResponse | undefined {
  const key = readKey(request);
  if (key === secretKey) return undefined;
  const message = key
    ? `Invalid API Key provided: ${redact(key)}`
    : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.";
  return stripeError(401, { type: 'invalid_request_error', message }, { shouldRetry: false });
}

function redact(key: string): string {
  const prefix = /^[a-z]+_(?:test_|live_)?/.exec(key)?.[0] ?? '';
  return `${prefix}${'*'.repeat(Math.max(0, key.length - prefix.length - 4))}${key.slice(-4)}`;
}

/** Stripe's response headers: a request id, the API version, and the idempotency key echoed. */
function withStripeHeaders(handle: Handle): Handle {
  return async (request, signal) => {
    const outcome = await handle(request, signal);
    if (outcome.type !== 'respond') return outcome;
    const headers: Record<string, string> = {
      'request-id': stripeId('req', 14),
      'stripe-version': request.headers.get('stripe-version') ?? DEFAULT_API_VERSION,
    };
    const key = request.headers.get('idempotency-key');
    if (key !== null && request.method === 'POST') headers['idempotency-key'] = key;
    return {
      ...outcome,
      response: { ...outcome.response, headers: { ...headers, ...outcome.response.headers } },
    };
  };
}
