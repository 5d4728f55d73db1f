/**
 * The error a guarded toolset aborts its `abortController` with when the run's vault key is revoked
 * or expired (the kill switch), or no run key can be derived: `agent.generate()` then ends with
 * finishReason `aborted`, and the signal's `reason` is this error. It is core's, so
 * `RunStoppedError.isInstance(error)` recognises it from any installed copy.
 */
export { RunStoppedError } from '@spendguard/core';
