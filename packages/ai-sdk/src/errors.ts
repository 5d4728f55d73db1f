import type { ExecuteDecision } from '@spendguard/core';

/**
 * The reason a guarded toolset aborts its `abortController` with: the vault key of the run was
 * revoked or expired (the kill switch), so no further step may run. `generateText` rejects with
 * it (the provider's fetch rejects with the signal's reason); `streamText` ends with `onAbort`.
 */
export class RunStoppedError extends Error {
  /** Why: `key_revoked`, `key_expired`, or `key_invalid` when no run key could be derived. */
  readonly code: string;
  /** The decision that stopped the run, when there was one. */
  readonly decision: ExecuteDecision<unknown> | undefined;

  constructor(
    message: string,
    options: { code: string; decision?: ExecuteDecision<unknown>; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = 'RunStoppedError';
    this.code = options.code;
    this.decision = options.decision;
  }
}
