import { randomUUID } from 'node:crypto';
import type { DeriveOptions, Guard } from '@spendguard/core';

/** How many run tokens one guarded toolset keeps before deriving again (same key, new token). */
const MAX_CACHED_RUNS = 1024;

/**
 * The run keys of one guarded toolset: derived from the root key, one per run id (the same key
 * for the same run id, across processes), each derived once and kept.
 */
export class RunKeys {
  /** The run id used when neither the tool context nor the options name one. */
  readonly defaultRunId: string;
  readonly #guard: Guard;
  readonly #rootToken: string;
  readonly #derive: Omit<DeriveOptions, 'runId'>;
  readonly #tokens = new Map<string, Promise<string>>();

  constructor(
    guard: Guard,
    rootToken: string,
    runId: string | undefined,
    derive: Omit<DeriveOptions, 'runId'>,
  ) {
    this.#guard = guard;
    this.#rootToken = rootToken;
    this.#derive = derive;
    this.defaultRunId = runId ?? `ai-sdk-${randomUUID()}`;
  }

  /** The run key's token; rejects with a `SpendguardError` (`key_invalid`) when the root key cannot act. */
  token(runId: string): Promise<string> {
    const cached = this.#tokens.get(runId);
    if (cached) return cached;
    if (this.#tokens.size >= MAX_CACHED_RUNS) {
      const oldest = this.#tokens.keys().next();
      if (!oldest.done) this.#tokens.delete(oldest.value);
    }
    const token = this.#guard.keys.derive(this.#rootToken, { ...this.#derive, runId }).then((k) => k.token);
    this.#tokens.set(runId, token);
    // A failure (revoked root, store down) is not kept: the next call asks again.
    token.catch(() => {
      if (this.#tokens.get(runId) === token) this.#tokens.delete(runId);
    });
    return token;
  }
}
