/** An amount of money in major units of its currency (12.5 eur is twelve euros fifty). */
export interface Money {
  amount: number;
  currency: string;
}

/** A normalized vendor request. */
export interface Operation {
  /** Vendor name as in the policy, e.g. `stripe`. */
  vendor: string;
  /** HTTP method, e.g. `POST`. */
  method: string;
  /** Request path without query string, e.g. `/v1/refunds`. */
  path: string;
  /** Decoded request parameters (body and query). Policy param rules look here. */
  params?: Record<string, unknown>;
  /** The cost estimated before the call. Absent means the call is free (a read). */
  cost?: Money;
  /**
   * The vendor account the call acts on when it is not your own (Stripe's `Stripe-Account`, a
   * Twilio subaccount SID). Part of the checkpoint: a call on another account is another call.
   */
  account?: string;
}

/** Who made the call, copied onto the audit row. */
export interface Attribution {
  runId?: string;
  agentId?: string;
  toolCallId?: string;
  traceId?: string;
}

export function operationName(op: Pick<Operation, 'method' | 'path'>): string {
  return `${op.method.toUpperCase()} ${op.path}`;
}

/**
 * Read a dotted path (`metadata.order_id`, `items.0.price`) out of nested params. Only own
 * properties count: params are untrusted, and `toString` must not find Object.prototype's.
 */
export function readParam(params: Record<string, unknown> | undefined, path: string): unknown {
  let current: unknown = params;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}
