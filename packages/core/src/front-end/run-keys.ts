import { randomUUID } from 'node:crypto';
import type { Guard } from '../guard.ts';
import type { DeriveOptions } from '../vault-keys.ts';

/** How many run tokens one `RunKeys` keeps before deriving again (same key, new token). */
const MAX_CACHED_RUNS = 1024;

export interface RunKeysOptions {
  /** The guard whose vault keys derive the run keys. */
  guard: Guard;
  /** The root vault key (`sk_sg_…`) every run key is derived from. */
  key: string;
  /** The run id for calls that name none. Default: `runIdPrefix` and a random UUID. */
  runId?: string;
  /** What a generated run id starts with, naming the front end (`ai-sdk-`). Default: `run-`. */
  runIdPrefix?: string;
  /** How each run key narrows the root key's policy (`caps`, `operations`, `ratePerMinute`, `ttl`). Default: not at all. */
  derive?: Omit<DeriveOptions, 'runId'>;
}

/**
 * The run keys of one wrapped toolset (or one front end): derived from the root key, one per run
 * id (the same key for the same run id, across processes), each derived once and kept.
 */
export class RunKeys {
  /** The run id used when a call names none. */
  readonly defaultRunId: string;
  readonly #guard: Guard;
  readonly #rootToken: string;
  readonly #derive: Omit<DeriveOptions, 'runId'>;
  readonly #tokens = new Map<string, Promise<string>>();

  constructor(options: RunKeysOptions) {
    this.#guard = options.guard;
    this.#rootToken = options.key;
    this.#derive = options.derive ?? {};
    this.defaultRunId = options.runId ?? `${options.runIdPrefix ?? 'run-'}${randomUUID()}`;
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
