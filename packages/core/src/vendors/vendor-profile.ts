import type { Money } from '../operation.ts';
import type { ResolvedPolicy } from '../policy.ts';

/** A vendor request, decoded: what a profile reads to name, price and settle it. */
export interface VendorOperation {
  method: string;
  path: string;
  params: Record<string, unknown>;
}

/**
 * The estimate made before the call: a cost, or the reason the call cannot be priced (and so
 * must be denied rather than guessed). `unlisted` marks an operation the profile does not know
 * at all: the guard then uses a cost the policy states for it (`costs:`), or denies it.
 * `effective` gives the values the vendor will use for params the request leaves out (a refund
 * without `amount` refunds what is left), so policy rules check what will really happen.
 */
export type CostEstimate =
  | { cost: Money; effective?: Record<string, unknown> }
  | { unknown: string; unlisted?: true }
  /** An amount or currency the request gives that is garbled, negative or not a whole number. */
  | { invalid: string };

export interface EstimateContext {
  policy: ResolvedPolicy;
  /** Read a vendor object (a GET through the same governed transport), when the caller can. */
  lookup?: (path: string) => Promise<unknown>;
}

/** What the vendor's answer says about the money, read after the call. */
export interface VendorSettlement {
  cost?: Money;
  /** True when the vendor gave no price and the estimate stands in for it. */
  costIsEstimate?: boolean;
  upstreamObjectId?: string;
}

/**
 * Everything spendguard knows about one vendor's API: how its requests are read, priced before
 * the call, settled after it, and how it deduplicates.
 */
export interface VendorProfile {
  readonly vendor: string;
  /** Hosts of the real API, so a governed fetch knows whose request it holds. */
  readonly hosts: readonly string[];
  /** The request header the vendor deduplicates on, or null when it has none (Twilio Messages). */
  readonly idempotencyHeader: string | null;
  /**
   * The vendor reads form-encoded bodies, where every scalar is text: a number and its numeric
   * string are one request to it, so they share one checkpoint. Default: false (JSON).
   */
  readonly formEncoded?: boolean;
  /**
   * The vendor account a request acts on when it is not the credential's own (Stripe's
   * `Stripe-Account` header, a Twilio subaccount SID in the path): part of the checkpoint, and
   * checked against the policy's `accounts`. Default: none.
   */
  accountOf?(headers: Headers, path: string): string | undefined;
  /**
   * Who a call pays or writes to (a customer, a phone number, an address), shown to the person
   * who approves it. Read from untrusted params: text only, bounded (see `recipientFrom`).
   * Default: none.
   */
  recipientOf?(op: VendorOperation): string | undefined;
  /** Decode a request body of this vendor into params. */
  readParams(contentType: string | null, body: string): Record<string, unknown>;
  /** Price the call before it is made, in the currency it is in. */
  estimate(op: VendorOperation, context: EstimateContext): Promise<CostEstimate>;
  /** Read the actual cost and the object id from a successful response body. */
  settle(op: VendorOperation, body: unknown, estimate: Money | undefined): VendorSettlement;
  /** Put the real credential on an outgoing request, replacing whatever auth it carried. */
  authorize(headers: Headers, credential: string): void;
  /**
   * A refusal in the vendor's own error shape, so its SDK raises its usual error class.
   * `code` is a spendguard code; it reaches the SDK as `spendguard_<code>`.
   */
  errorResponse(
    status: number,
    code: string,
    message: string,
  ): { body: unknown; headers?: Record<string, string> };
}

export const FREE: CostEstimate = { cost: { amount: 0, currency: 'usd' } };

/** The estimate for a write the profile does not know: denied unless the policy states its cost. */
export function unlisted(vendor: string, op: Pick<VendorOperation, 'method' | 'path'>): CostEstimate {
  return {
    unknown: `${vendor} ${op.method} ${op.path} is not an operation spendguard knows how to price; state its USD cost under ${vendor}.costs in the policy to allow it`,
    unlisted: true,
  };
}

/** `Authorization: Bearer <credential>`, as Stripe and Resend expect. */
export function bearer(headers: Headers, credential: string): void {
  headers.set('authorization', `Bearer ${credential}`);
}

/** Params as a profile reads them: any keys, untrusted values. */
export type Params = Record<string, unknown>;

export function isRecord(value: unknown): value is Params {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A param the request itself carries; never one inherited through a prototype. */
export function own(params: Params, name: string): unknown {
  return Object.hasOwn(params, name) ? params[name] : undefined;
}

const RECIPIENT_MAX = 200;
const RECIPIENTS_SHOWN = 5;

/**
 * The first of `names` the params carry as text (or as a list of texts, e.g. Resend's `to`), cut
 * to a length a page can show: who a call pays or writes to. Anything else counts as absent.
 */
export function recipientFrom(params: Params, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = own(params, name);
    const texts =
      typeof value === 'string'
        ? [value]
        : Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')
          ? (value as string[])
          : [];
    const shown = texts.filter((text) => text !== '').slice(0, RECIPIENTS_SHOWN);
    if (shown.length === 0) continue;
    const more = texts.length > shown.length ? ` and ${texts.length - shown.length} more` : '';
    const text = shown.join(', ');
    return (text.length > RECIPIENT_MAX ? `${text.slice(0, RECIPIENT_MAX)}…` : text) + more;
  }
  return undefined;
}

/** What a value is, for a sentence about it. */
export function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
