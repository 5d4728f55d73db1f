import { type Guard, REDACTED, Redactor, TOKEN_PREFIX } from '@spendguard/core';

/** Every vault token in a text, as it is. */
const VAULT_TOKENS = new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]*`, 'g');

/**
 * What the gateway shows (results, refusals, log lines, the upstream's stderr) passes through
 * this: the guard's vendor secrets and the gateway's own (the upstream's key) in every encoding
 * the Redactor knows, and any vault token, become `[redacted]`.
 */
export class Scrubber {
  readonly #guard: Guard;
  readonly #own = new Redactor();

  constructor(guard: Guard, secrets: Iterable<string | undefined> = []) {
    this.#guard = guard;
    for (const secret of secrets) this.#own.add(secret);
  }

  /** Remember one more secret (a vault token a client presented, the upstream's key). */
  add(secret: string | undefined): void {
    this.#own.add(secret);
  }

  text(text: string): string {
    return this.#own.redact(this.#guard.redact(text)).replace(VAULT_TOKENS, REDACTED);
  }

  /**
   * A JSON value with every string scrubbed: serialized, scrubbed, parsed again. Should scrubbing
   * ever break the JSON, the scrubbed text stands in for the value.
   */
  value<T>(value: T): T | string {
    const json = JSON.stringify(value) ?? 'null';
    const clean = this.text(json);
    if (clean === json) return value;
    try {
      return JSON.parse(clean) as T;
    } catch {
      return clean;
    }
  }
}

/** Whether a JSON value carries a vault token anywhere (a key or a string). */
export function carriesVaultToken(value: unknown): boolean {
  return (JSON.stringify(value) ?? '').includes(TOKEN_PREFIX);
}
