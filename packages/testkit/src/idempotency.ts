import type { FakeResponse } from './engine.ts';

/** How long a vendor keeps an idempotency key: 24 h for Stripe and Resend. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

type Entry =
  | { state: 'in_flight'; fingerprint: string; since: number }
  | { state: 'done'; fingerprint: string; since: number; response: FakeResponse };

/** What a vendor does with a request carrying a key. */
export type Claim =
  | { type: 'fresh' }
  | { type: 'in_flight' }
  | { type: 'mismatch' }
  | { type: 'replay'; response: FakeResponse };

/**
 * The idempotency layer: a key is claimed when a request starts (so a concurrent one with the same
 * key is told it is in flight), then either completed with the response to replay or released
 * when nothing is to be kept (a validation failure), so the key can be used again.
 */
export class IdempotencyStore {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { ttlMs: number; now: () => number }) {
    this.#ttlMs = options.ttlMs;
    this.#now = options.now;
  }

  claim(key: string, fingerprint: string): Claim {
    const entry = this.#entries.get(key);
    const now = this.#now();
    if (entry === undefined || now - entry.since >= this.#ttlMs) {
      this.#entries.set(key, { state: 'in_flight', fingerprint, since: now });
      return { type: 'fresh' };
    }
    if (entry.state === 'in_flight') return { type: 'in_flight' };
    if (entry.fingerprint !== fingerprint) return { type: 'mismatch' };
    return { type: 'replay', response: entry.response };
  }

  complete(key: string, response: FakeResponse): void {
    const entry = this.#entries.get(key);
    if (entry?.state !== 'in_flight') return;
    this.#entries.set(key, { state: 'done', fingerprint: entry.fingerprint, since: entry.since, response });
  }

  release(key: string): void {
    if (this.#entries.get(key)?.state === 'in_flight') this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
