import { sha256Hex } from '@spendguard/core';

/**
 * What the adapter reads of a tool call before core sees it. The arguments and the call id come
 * from the model (through the provider), so they are untrusted: the arguments go to core as parsed
 * JSON (core decodes and bounds them), and an id goes on audit rows only when it is short and
 * plain, else as a digest of itself.
 */

/**
 * Ids recorded as they are: letters, marks, digits, punctuation, symbols and plain spaces, at
 * most 128 characters (no control, format or separator characters such as bidi overrides).
 */
const PLAIN_ID = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]{1,128}$/u;

/** The model's arguments as JSON data, or `undefined` when they are not JSON (the SDK's own parser then refuses the call). */
export function parsedArguments(input: unknown): { value: unknown } | undefined {
  if (typeof input !== 'string') return undefined;
  try {
    return { value: JSON.parse(input) as unknown };
  } catch {
    // Not JSON, or nested too deep for JSON.parse: nothing can run, so there is nothing to checkpoint.
    return undefined;
  }
}

/**
 * An id as audit rows carry it: the id itself when it is plain and short, else `sha256:` and the
 * first 32 hex digits of its digest — the same id always gives the same value, and no id can
 * make an audit row large or carry control characters.
 */
export function attributionId(id: string): string {
  return PLAIN_ID.test(id) ? id : `sha256:${sha256Hex(id).slice(0, 32)}`;
}

/** The model's id of this call (`details.toolCall.callId`), as audit rows carry it. */
export function toolCallIdOf(details: unknown): string | undefined {
  const callId = rawCallIdOf(details);
  return callId === undefined ? undefined : attributionId(callId);
}

/** The SDK's `details.toolCall.callId`, as the model sent it. */
export function rawCallIdOf(details: unknown): string | undefined {
  if (details === null || typeof details !== 'object') return undefined;
  const toolCall = (details as { toolCall?: unknown }).toolCall;
  if (toolCall === null || typeof toolCall !== 'object') return undefined;
  const callId = (toolCall as { callId?: unknown }).callId;
  return typeof callId === 'string' && callId !== '' ? callId : undefined;
}
