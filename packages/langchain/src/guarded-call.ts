import {
  type Guard,
  guardToolCall,
  policyApprovalReason,
  type RunKeys,
  type ToolCallOutcome,
  type ToolRefusal,
  toolRefusal,
} from '@spendguard/core';
import type { ApprovalAsks } from './approval-asks.ts';
import type { ActionRequest, ApprovalDecision, ApprovalFunction } from './approval-request.ts';
import type { CallBinding, LangGraphConfig } from './call-binding.ts';
import { isBubbleUp } from './graph-errors.ts';
import type { CheckpointKeyFunction, SpendguardOptions } from './options.ts';

/** One governed tool's settings: the same for each of its calls. */
export interface GuardedToolSettings {
  guard: Guard;
  /** The run keys of the toolset (or middleware) the tool belongs to. */
  runKeys: RunKeys;
  /** The tool's name, as the model sees it. */
  name: string;
  options: SpendguardOptions;
  fields?: readonly string[] | undefined;
  idempotencyKey?: CheckpointKeyFunction<never> | undefined;
  approval?: ApprovalFunction<never> | undefined;
  /** Shared by the toolset's tools, so one task raises one approval interrupt. */
  asks: ApprovalAsks;
}

/** One call of a governed tool, as the adapter hands it over. */
export interface GuardedCall {
  /** The tool's input (parsed by its schema where it has one). */
  input: unknown;
  config: LangGraphConfig;
  binding: CallBinding;
  /** The LangChain run id of the tool call, for the audit rows' trace id. */
  traceId: string | undefined;
  /** The calls of this call's LangGraph task that need approval (see `ApprovalAsks`). */
  plan: () => Promise<ActionRequest[]>;
  /** The tool itself (returning what its checkpoint stores). */
  run: () => Promise<unknown>;
}

/**
 * One governed call: the policy's approval rule asked through LangGraph's `interrupt()` (when the
 * tool maps its input to vendor calls), then core's tool-call sequence. A human's rejection is a
 * refusal (`approval_denied`) the model reads; nothing runs.
 */
export async function guardedCall(
  settings: GuardedToolSettings,
  call: GuardedCall,
): Promise<ToolCallOutcome> {
  const { binding, config } = call;
  let approvedBy: string | undefined;
  if (settings.approval && binding.toolCallId !== undefined) {
    const info = config.executionInfo;
    const task = info !== null && typeof info === 'object' ? info : undefined;
    const decision = await settings.asks.decisionFor(task, binding.toolCallId, call.plan);
    if (decision?.type === 'reject') return { kind: 'refusal', refusal: rejection(decision.message) };
    if (decision) approvedBy = approvedByOf(settings, call, decision, binding.toolCallId);
  }
  const keyOf = settings.idempotencyKey as CheckpointKeyFunction<unknown> | undefined;
  // Core turns whatever the tool throws into a failed call; LangGraph's own signals (an
  // `interrupt()` inside the tool, a `Command` to a parent graph) must reach the graph instead.
  let bubbled: { error: unknown } | undefined;
  const run = async () => {
    try {
      return await call.run();
    } catch (error) {
      if (isBubbleUp(error)) bubbled = { error };
      throw error;
    }
  };
  const outcome = await guardToolCall(
    {
      guard: settings.guard,
      runKeys: settings.runKeys,
      name: settings.name,
      agentId: binding.agentId,
      fields: settings.fields,
      scope: settings.options.scope,
      idempotencyKey: keyOf && ((input, ctx) => keyOf(input, { ...ctx, config })),
    },
    {
      input: call.input,
      toolCallId: binding.toolCallId,
      runId: binding.runId,
      context: binding.context,
      approvedBy,
      traceId: call.traceId,
      run,
    },
  );
  if (bubbled) throw bubbled.error;
  return outcome;
}

/**
 * The action request for one call, when the policy wants a human's yes for the vendor call(s) its
 * input maps to (asked of the run's key: no reservation, no audit row).
 */
export async function approvalAsk(
  settings: Pick<GuardedToolSettings, 'guard' | 'runKeys'>,
  approval: ApprovalFunction<never>,
  call: { name: string; args: unknown; toolCallId: string; runId: string },
): Promise<ActionRequest | undefined> {
  const mapped = (approval as ApprovalFunction<unknown>)(call.args);
  const requests = mapped === undefined ? [] : Array.isArray(mapped) ? mapped : [mapped];
  const reason = await policyApprovalReason(settings, { runId: call.runId, requests });
  if (reason === undefined) return undefined;
  const args =
    call.args !== null && typeof call.args === 'object' && !Array.isArray(call.args)
      ? (call.args as Record<string, unknown>)
      : { input: call.args };
  return { name: call.name, args, description: reason, toolCallId: call.toolCallId };
}

/** What the model reads when a human declined the call. */
function rejection(message: string | undefined): ToolRefusal {
  return toolRefusal({
    decision: 'denied',
    code: 'approval_denied',
    message: message ?? 'a human declined this call when asked to approve it',
  }) as ToolRefusal;
}

function approvedByOf(
  settings: GuardedToolSettings,
  call: GuardedCall,
  decision: ApprovalDecision,
  toolCallId: string,
): string {
  const named = settings.options.approver?.({
    toolName: settings.name,
    toolCallId,
    runId: call.binding.runId,
    decision,
    context: call.binding.context,
    config: call.config,
  });
  return named || `langgraph interrupt (tool call ${toolCallId})`;
}
