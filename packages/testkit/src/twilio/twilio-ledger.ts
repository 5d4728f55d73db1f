import type { RequestRecord } from '../engine.ts';
import type { SmsEncoding } from './segments.ts';

/** Twilio form fields: one string, or several for a repeated field such as `MediaUrl`. */
export type TwilioParams = Record<string, string | string[]>;
export type TwilioRequestRecord = RequestRecord<TwilioParams | undefined>;

/** A message the fake Twilio accepted for sending. */
export interface SentMessage {
  sid: string;
  accountSid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  encoding: SmsEncoding;
  /** What Twilio bills: GSM-7 160/153, UCS-2 70/67 per segment; 1 for a media-only MMS. */
  numSegments: number;
  mediaUrls: string[];
  at: number;
}

/** What happened at the fake Twilio, to assert on. */
export class TwilioLedger {
  readonly #requests: TwilioRequestRecord[] = [];
  readonly #messages: SentMessage[] = [];

  /** Every request seen (an `Idempotency-Key` header is recorded, though Twilio ignores it). */
  get requests(): readonly TwilioRequestRecord[] {
    return this.#requests;
  }

  /** Every message sent, in order. A retried create is a second message: Twilio has no idempotency. */
  get messages(): readonly SentMessage[] {
    return this.#messages;
  }

  /** How many messages were sent, optionally only to one number. */
  count(to?: string): number {
    return to === undefined ? this.#messages.length : this.#messages.filter((m) => m.to === to).length;
  }

  /** Segments billed across every message sent. */
  segments(): number {
    return this.#messages.reduce((sum, m) => sum + m.numSegments, 0);
  }

  /** @internal */
  recordRequest(record: TwilioRequestRecord): void {
    this.#requests.push(record);
  }

  /** @internal */
  send(message: SentMessage): void {
    this.#messages.push(message);
  }

  /** @internal */
  clear(): void {
    this.#requests.length = 0;
    this.#messages.length = 0;
  }
}
