import { RunStoppedError } from '@spendguard/core';

/**
 * The `RunStoppedError` that ended a run, from what `run()` rejected with (or a streamed run's
 * `completed`): the SDK's `ToolCallError` wrapping it (`.error`), the error itself, or an error
 * whose `cause` is one. Undefined for any other failure. Recognised with `RunStoppedError.isInstance`,
 * so it holds across installed copies of core.
 */
export function runStoppedErrorOf(error: unknown): RunStoppedError | undefined {
  let current: unknown = error;
  // A short walk: ToolCallError → .error, or an Error → .cause; never a cycle.
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    if (RunStoppedError.isInstance(current)) return current;
    const wrapped = current as { error?: unknown; cause?: unknown };
    current = wrapped.error ?? wrapped.cause;
  }
  return undefined;
}
