import { TOKEN_PREFIX } from '@spendguard/core';

/** The parts of the SDK's current trace (`getCurrentTrace()`) audit rows carry. */
export interface TraceLike {
  traceId?: unknown;
  groupId?: unknown;
}

/** Ids recorded: short and plain, like the proxy's request ids (no `;`, `=` or spaces). */
const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** What the SDK's trace id is while tracing is disabled: not a trace anyone can look up. */
const NO_OP_TRACE = 'no-op';

/**
 * The audit rows' `traceId` for a call made inside an SDK trace: the trace id (`trace_…`, what the
 * OpenAI dashboard shows), and when the trace has a group id (`new Runner({ groupId })`, e.g. the
 * chat thread), `;group=` and that id: `trace_abc123;group=thread_42`. Nothing while tracing is
 * disabled (the SDK's no-op trace). An id that is not plain, or that could carry a secret
 * (`isSecret`) or a vault key, is left out.
 *
 * Core's audit rows have one `traceId` column, so the group id rides in it; a `groupId` column of
 * its own would be better (to hoist into core's Attribution).
 */
export function auditTraceId(
  trace: TraceLike | null | undefined,
  isSecret: (text: string) => boolean,
): string | undefined {
  const traceId = plainId(trace?.traceId, isSecret);
  if (traceId === undefined || traceId === NO_OP_TRACE) return undefined;
  const groupId = plainId(trace?.groupId, isSecret);
  return groupId === undefined ? traceId : `${traceId};group=${groupId}`;
}

function plainId(value: unknown, isSecret: (text: string) => boolean): string | undefined {
  if (typeof value !== 'string' || !TRACE_ID.test(value)) return undefined;
  if (value.includes(TOKEN_PREFIX) || isSecret(value)) return undefined;
  return value;
}
