import { type Guard, type RunKeys, RunStoppedError, SpendguardError } from '@spendguard/core';
import type { LangGraphConfig } from './call-binding.ts';
import { isDrained } from './graph-errors.ts';
import { refusalOf } from './refusal-message.ts';

const STOP_CODES = ['key_revoked', 'key_expired', 'key_invalid'] as const;
const DRAIN_REASON = /^spendguard (key_revoked|key_expired|key_invalid): ([\s\S]*)$/;

/**
 * End the graph run because its key can no longer act (the kill switch): abort the caller's
 * `abortController` with the error (`invoke` rejects with it), and, where nothing else ends the
 * run, ask LangGraph to drain: the step finishes (its `ToolMessage`s are checkpointed), then
 * `invoke` rejects with `GraphDrained`, whose reason names spendguard's code.
 */
export function stopRun(
  error: RunStoppedError,
  config: LangGraphConfig,
  how: { abortController?: AbortController | undefined; drain: boolean },
): void {
  if (how.abortController && !how.abortController.signal.aborted) how.abortController.abort(error);
  if (how.drain) config.control?.requestDrain(`spendguard ${error.code}: ${error.message}`);
}

/**
 * The spendguard stop that ended a graph run, from what `invoke` gave: its rejection (the
 * `RunStoppedError` itself, or a `GraphDrained` spendguard requested), or its result (a state
 * whose last messages hold the refusal that stopped the run). Undefined for anything else.
 */
export function runStopOf(value: unknown): RunStoppedError | undefined {
  if (RunStoppedError.isInstance(value)) return value;
  if (isDrained(value)) {
    const match = DRAIN_REASON.exec(String(value.reason));
    if (!match) return undefined;
    const code = match[1] as (typeof STOP_CODES)[number];
    return new RunStoppedError(match[2] as string, { code, cause: value });
  }
  const messages = messagesOf(value);
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as { getType?: () => string };
    if (typeof message?.getType === 'function' && message.getType() === 'ai') return undefined;
    const refusal = refusalOf(message);
    if (refusal?.stopped && (STOP_CODES as readonly string[]).includes(refusal.code)) {
      return new RunStoppedError(refusal.reason, { code: refusal.code as (typeof STOP_CODES)[number] });
    }
  }
  return undefined;
}

/**
 * Whether the run's key can still act: derivable from the root key, not expired, and neither it
 * nor an ancestor revoked. Read-only (no token issued when one is cached, no reservation, no audit
 * row). A store that cannot answer leaves it to the next call, which reports it.
 */
export async function runCanAct(guard: Guard, runKeys: RunKeys, runId: string): Promise<boolean> {
  let token: string;
  try {
    token = await runKeys.token(runId);
  } catch (error) {
    if (SpendguardError.isInstance(error) && error.code === 'key_invalid') return false;
    return true;
  }
  const auth = await guard.keys.authenticate(token);
  if ('code' in auth) return false;
  for (const id of auth.key.chain) {
    if ((await guard.keys.get(id))?.revokedAt != null) return false;
  }
  return true;
}

function messagesOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (
    value !== null &&
    typeof value === 'object' &&
    Array.isArray((value as { messages?: unknown }).messages)
  ) {
    return (value as { messages: unknown[] }).messages;
  }
  return [];
}
