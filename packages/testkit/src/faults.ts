/** How long `timeout_after_act` withholds the answer by default: longer than any SDK's default timeout (Stripe's is 80 s). */
export const DEFAULT_TIMEOUT_FAULT_MS = 120_000;

/**
 * How `echo_credential` writes the credential the fake received: as it is, URL-encoded
 * (`encodeURIComponent`), base64 of the secret, or base64 of the Basic-auth pair `user:secret`
 * (Twilio: `AccountSid:AuthToken`; Stripe and Resend, whose keys come as a Bearer token: `:key`).
 */
export type EchoEncoding = 'raw' | 'url' | 'base64' | 'basic';

/**
 * What can go wrong, for every fake. "After act" means the vendor did the work (recorded the
 * object, moved the money, sent the message) before the failure: the client cannot know.
 */
export type CommonFault =
  /** Act, then answer a 5xx server error (default 500) instead of the real answer. */
  | { kind: 'fail_after_act'; status?: number }
  /** Act, then destroy the connection without answering (msw: a network error). */
  | { kind: 'reset_after_act' }
  /** Act, then send the answer only after `ms` (default 120 000): long enough for the client to time out. */
  | { kind: 'timeout_after_act'; ms?: number }
  /** Wait `ms`, then act and answer normally. An idempotency key stays in flight while waiting. */
  | { kind: 'latency'; ms: number }
  /** Answer 429 without acting. */
  | { kind: 'rate_limit' }
  /**
   * Whatever the fake answers this request (its normal answer, a 4xx, or the 5xx or late answer
   * of another fault) carries the credential it received, written in `encoding`: appended to the
   * error's message, or as a `credential_echo` field of a successful answer. An answer stored for
   * idempotent replay keeps it, so a retry with the same key gets it too.
   */
  | { kind: 'echo_credential'; encoding: EchoEncoding };

/** Stripe's faults: the common ones and a card decline. */
export type StripeFault =
  | CommonFault
  /** The card is declined: 402 `card_error`, `card_declined` (default decline code `generic_decline`). */
  | { kind: 'card_decline'; declineCode?: string };

export type FaultKind = StripeFault['kind'];

/** What a fault's `match` sees of a request. */
export interface FaultRequest {
  method: string;
  path: string;
  /** The parsed body (Stripe and Twilio: form fields as strings; Resend: the JSON). */
  params: unknown;
  idempotencyKey: string | undefined;
}

export interface InjectOptions {
  /** How many matching requests the fault applies to. Default: 1. `Infinity` for all of them. */
  times?: number;
  /** Which requests it applies to. Default: every request that reaches the vendor's logic. */
  match?: (request: FaultRequest) => boolean;
}

interface Armed<F> {
  fault: F;
  remaining: number;
  match: ((request: FaultRequest) => boolean) | undefined;
}

/**
 * Faults armed on a fake; each request takes the first armed one of a kind that matches. An
 * `echo_credential`, then a `rate_limit`, is taken after authentication and routing (a 401 or 404
 * takes none); then, once the idempotency layer let the request through (a 409 takes none), one
 * `latency` and one after-act fault; a `card_decline` only by a request that charges a card.
 */
export class Faults<F extends StripeFault = CommonFault> {
  #armed: Armed<F>[] = [];

  /** Arms a fault for the next `times` matching requests. */
  inject(fault: F, options: InjectOptions = {}): void {
    const times = options.times ?? 1;
    if (!(times >= 1)) throw new RangeError(`times must be at least 1, got ${times}`);
    this.#armed.push({ fault, remaining: times, match: options.match });
  }

  /** Faults still armed, with how many requests each will still apply to. */
  pending(): { fault: F; remaining: number }[] {
    return this.#armed.map(({ fault, remaining }) => ({ fault, remaining }));
  }

  /** Disarms every fault. */
  clear(): void {
    this.#armed = [];
  }

  /** @internal Takes one use of the first armed fault of one of `kinds` that matches. */
  take(request: FaultRequest, kinds: readonly FaultKind[]): F | undefined {
    for (const armed of this.#armed) {
      if (!kinds.includes(armed.fault.kind as FaultKind)) continue;
      if (armed.match && !armed.match(request)) continue;
      armed.remaining -= 1;
      if (armed.remaining <= 0) this.#armed = this.#armed.filter((a) => a !== armed);
      return armed.fault;
    }
    return undefined;
  }
}
