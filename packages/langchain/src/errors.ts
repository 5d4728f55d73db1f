/**
 * The error the kill switch stops a run with when its vault key is revoked or expired, or no run
 * key can be derived: the caller's `abortController` is aborted with it (`invoke` rejects with it),
 * and `runStopOf` reads it from a `GraphDrained` or a stopped run's state. It is core's, so
 * `RunStoppedError.isInstance(error)` recognises it from any installed copy.
 */
export { RunStoppedError } from '@spendguard/core';
