import { sha256Hex, TOKEN_PREFIX } from '@spendguard/core';
import type { MastraCall } from './mastra-call.ts';

/** An id kept as it is on the audit row: short and plain (no `;`, `=` or spaces, which separate the parts). */
const PLAIN_ID = /^[A-Za-z0-9._:@+/-]{1,128}$/;

/**
 * The audit rows' `traceId` for a Mastra call: Mastra's trace id when tracing is on, then the
 * agent's memory thread and resource — `4bf92f…;thread=chat-42;resource=user-7`, or
 * `thread=chat-42;resource=user-7` without tracing. Undefined when there is none of them (a
 * workflow step without tracing): the run id and the tool call id are on the row anyway.
 *
 * Core's audit rows have no thread or resource column, so they ride in the `traceId` column (as the
 * OpenAI Agents adapter carries its group id); columns of their own would be better (core's
 * attribution). The tool's own row and every governed vendor call inside it carry it.
 *
 * An id that is not plain, or that could be a secret (`isSecret`, a vault-key token), is kept as
 * `sha256:<hex>`: still one value per id, so an app finds its rows by hashing its thread id, and
 * nothing from a request can break the format or put a secret in the audit log.
 */
export function auditTraceId(
  call: Pick<MastraCall, 'traceId' | 'threadId' | 'resourceId'>,
  isSecret: (text: string) => boolean,
): string | undefined {
  const parts: string[] = [];
  if (call.traceId !== undefined) parts.push(recorded(call.traceId, isSecret));
  if (call.threadId !== undefined) parts.push(`thread=${recorded(call.threadId, isSecret)}`);
  if (call.resourceId !== undefined) parts.push(`resource=${recorded(call.resourceId, isSecret)}`);
  return parts.length > 0 ? parts.join(';') : undefined;
}

function recorded(id: string, isSecret: (text: string) => boolean): string {
  if (PLAIN_ID.test(id) && !id.includes(TOKEN_PREFIX) && !isSecret(id)) return id;
  return `sha256:${sha256Hex(id)}`;
}
