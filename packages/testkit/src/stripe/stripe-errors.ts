import { type FakeResponse, jsonResponse } from '../engine.ts';

export type StripeErrorType = 'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error';

/** The `error` object of a Stripe error body. */
export interface StripeErrorBody {
  type: StripeErrorType;
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  doc_url?: string;
  charge?: string;
  payment_intent?: unknown;
}

/**
 * A Stripe error answer. `Stripe-Should-Retry: false` goes on answers a retry cannot change
 * (bad requests, auth, declines, and an injected 500 that the idempotency layer would replay):
 * stripe-node obeys it before its own rules (it retries 409 and 5xx by default).
 */
export function stripeError(
  status: number,
  error: StripeErrorBody,
  options: { shouldRetry?: boolean } = {},
): FakeResponse {
  const body: StripeErrorBody = { ...error };
  if (error.code !== undefined && error.doc_url === undefined) {
    body.doc_url = `https://stripe.com/docs/error-codes/${error.code.replaceAll('_', '-')}`;
  }
  const headers: Record<string, string> = {};
  if (options.shouldRetry !== undefined) headers['stripe-should-retry'] = String(options.shouldRetry);
  return jsonResponse(status, { error: body }, headers);
}

/** Thrown inside the fake's resource logic for a request Stripe would refuse before acting. */
export class StripeRequestError extends Error {
  readonly status: number;
  readonly body: StripeErrorBody;

  constructor(message: string, options: { status?: number; code?: string; param?: string } = {}) {
    super(message);
    this.status = options.status ?? 400;
    this.body = {
      type: 'invalid_request_error',
      message,
      ...(options.code !== undefined ? { code: options.code } : {}),
      ...(options.param !== undefined ? { param: options.param } : {}),
    };
  }

  toResponse(): FakeResponse {
    return stripeError(this.status, this.body, { shouldRetry: false });
  }
}

export function noSuch(type: string, id: string, param: string, status = 400): StripeRequestError {
  return new StripeRequestError(`No such ${type}: '${id}'`, { status, code: 'resource_missing', param });
}
