import type { RequestRecord } from '../engine.ts';

/** The JSON body: an email object for `/emails`, an array of them for `/emails/batch`. */
export type ResendRequestRecord = RequestRecord<unknown>;

/** An email the fake Resend accepted. */
export interface SentEmail {
  id: string;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  /** `to` + `cc` + `bcc`: what a per-recipient budget counts. */
  recipients: number;
  /** The `Idempotency-Key` of the request that sent it, if any. */
  idempotencyKey?: string;
  /** Sent through `/emails/batch`. */
  batch: boolean;
  at: number;
}

/** What happened at the fake Resend, to assert on. */
export class ResendLedger {
  readonly #requests: ResendRequestRecord[] = [];
  readonly #emails: SentEmail[] = [];

  /** Every request seen, with its idempotency key and the status produced. */
  get requests(): readonly ResendRequestRecord[] {
    return this.#requests;
  }

  /** Every email sent, in order. An idempotent replay sends nothing. */
  get emails(): readonly SentEmail[] {
    return this.#emails;
  }

  /** How many emails were sent. */
  count(): number {
    return this.#emails.length;
  }

  /** Recipients across every email sent (to + cc + bcc). */
  recipients(): number {
    return this.#emails.reduce((sum, e) => sum + e.recipients, 0);
  }

  /** @internal */
  recordRequest(record: ResendRequestRecord): void {
    this.#requests.push(record);
  }

  /** @internal */
  send(email: SentEmail): void {
    this.#emails.push(email);
  }

  /** @internal */
  clear(): void {
    this.#requests.length = 0;
    this.#emails.length = 0;
  }
}
