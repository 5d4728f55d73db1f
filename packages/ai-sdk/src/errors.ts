/**
 * The error a guarded toolset aborts its `abortController` with when the run's vault key is revoked
 * or expired (the kill switch), or no run key can be derived: `generateText` rejects with it (the
 * provider's fetch rejects with the signal's reason); `streamText` ends with `onAbort`. It is
 * core's, so `RunStoppedError.isInstance(error)` recognises it from any installed copy.
 */
export { RunStoppedError } from '@spendguard/core';
