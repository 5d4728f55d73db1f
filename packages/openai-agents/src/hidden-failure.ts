import { SpendguardError } from '@spendguard/core';

/**
 * What a `tool()` built without `errorFunction` returns when its `execute` throws: the SDK's
 * default error function's text (checked on @openai/agents 0.20). The SDK formats the error inside
 * the tool's own `invoke`, so from outside the failure looks like a result.
 */
export const SDK_DEFAULT_TOOL_ERROR = 'An error occurred while running the tool. Please try again.';

/**
 * The tool's output, or a thrown error when the output is the SDK's default error text: the tool
 * failed, so its checkpoint must fail too (it may run again), and the model must read spendguard's
 * refusal instead of "Please try again", which would make it call the same charge again. A
 * governed call refused inside the tool is still found by core (the refusal noted in the run
 * binding), so the model reads the real reason.
 */
export function failureUnhidden(toolName: string, output: unknown): unknown {
  if (output !== SDK_DEFAULT_TOOL_ERROR) return output;
  throw new SpendguardError(
    'vendor_error',
    `the tool ${toolName} failed; the SDK's default errorFunction hid the error (build the tool with errorFunction: null to keep it)`,
  );
}
