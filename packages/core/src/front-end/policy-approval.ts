import type { Guard } from '../guard.ts';
import type { Operation } from '../operation.ts';
import { approvalReason } from './model-sentences.ts';
import type { RunKeys } from './run-keys.ts';

/**
 * Why the policy wants a human's yes before a tool call that will make these vendor calls, for a
 * framework's own approval flow; undefined when it does not. Asked of the run's key
 * (`guard.needsApproval`: no reservation, no audit row). When the key cannot act or the store is
 * down it answers undefined: the call then runs into the same refusal in `guardToolCall`, where
 * core decides and the model reads why.
 */
export async function policyApprovalReason(
  settings: { guard: Guard; runKeys: RunKeys },
  call: { runId?: string | undefined; requests: readonly Operation[] },
): Promise<string | undefined> {
  if (call.requests.length === 0) return undefined;
  const { guard, runKeys } = settings;
  try {
    const key = await runKeys.token(call.runId ?? runKeys.defaultRunId);
    for (const request of call.requests) {
      if (await guard.needsApproval({ ...request, key })) return approvalReason(request);
    }
  } catch {
    // guardToolCall reports it (a refusal, or a stop).
  }
  return undefined;
}
