/**
 * The error a guarded tool throws when the run's vault key is revoked or expired (the kill
 * switch), or no run key can be derived: the SDK cancels the turn's other calls and `run()`
 * rejects with a `ToolCallError` whose `.error` is it. It is core's, so `RunStoppedError.isInstance(error)`
 * recognises it from any installed copy; `runStoppedErrorOf(error)` unwraps the SDK's error.
 */
export { RunStoppedError } from '@spendguard/core';
