import { ToolMessage } from '@langchain/core/messages';
import { isToolRefusal, type ToolRefusal } from '@spendguard/core';

/** What a refusal's `ToolMessage` carries besides what the model reads (its `artifact`, never sent to the model). */
export interface RefusalRecord extends ToolRefusal {
  /** The run the refused call belonged to. */
  runId: string;
  /** The run's key can no longer act: the run was stopped (the kill switch). */
  stopped: boolean;
}

/**
 * The `ToolMessage` a refused call answers with, LangGraph's way of telling the model a call
 * failed: status `error` (never a thrown error, which a `ToolNode`, retry middleware or
 * `handleToolErrors` would act on), its content core's refusal as JSON — what was refused, why,
 * and that retrying will not help. The artifact keeps it readable for the app and for
 * `spendguardMiddleware`, which ends a stopped run before the next model call.
 */
export function refusalMessage(
  refusal: ToolRefusal,
  call: { toolCallId: string; name: string; runId: string; stopped: boolean },
): ToolMessage {
  const record: RefusalRecord = { ...refusal, runId: call.runId, stopped: call.stopped };
  return new ToolMessage({
    content: JSON.stringify(refusal),
    tool_call_id: call.toolCallId,
    name: call.name,
    status: 'error',
    artifact: { spendguard: record },
  });
}

/** The spendguard refusal a `ToolMessage` carries (also after a checkpointer round trip), if any. */
export function refusalOf(message: unknown): RefusalRecord | undefined {
  if (!ToolMessage.isInstance(message) || message.status !== 'error') return undefined;
  const artifact = message.artifact as { spendguard?: unknown } | null | undefined;
  const record = artifact !== null && typeof artifact === 'object' ? artifact.spendguard : undefined;
  if (!isToolRefusal(record)) return undefined;
  const { runId, stopped } = record as Partial<RefusalRecord>;
  return typeof runId === 'string' && typeof stopped === 'boolean' ? (record as RefusalRecord) : undefined;
}
