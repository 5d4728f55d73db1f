import type { Operation } from '@spendguard/core';
import type {
  InferToolInput,
  ModelMessage,
  SingleToolApprovalFunction,
  ToolApprovalStatus,
  ToolSet,
} from 'ai';

/**
 * A vendor call a tool makes, as the policy sees it: `{ vendor, method, path, params }` (and an
 * optional `cost` for vendors without a profile). For Stripe, `params` are the request's own
 * parameters in Stripe's units: `{ amount: 45_000, currency: 'usd', customer }` for $450.
 */
export type VendorRequest = Operation;

/**
 * The vendor call(s) a tool will make for an input, so approval rules (`approval.above`) can be
 * checked before the tool runs. Give every param the policy's allow rule checks (a call the policy
 * would refuse needs no approval). `undefined` or `[]`: this input makes no call that could need one.
 */
export type ApprovalFunction<INPUT> = (input: INPUT) => VendorRequest | readonly VendorRequest[] | undefined;

/** A tool call a human approved through the AI SDK's approval flow, about to run. */
export interface ApprovedToolCall {
  /** The tool's name. */
  toolName: string;
  /** The AI SDK's id of the tool call. */
  toolCallId: string;
  /** The AI SDK's id of the approval (`tool-approval-request` / `tool-approval-response`). */
  approvalId: string;
  /** The `reason` the app put on the `tool-approval-response`, if any. */
  reason: string | undefined;
  /** The run the call belongs to. */
  runId: string;
  /** The tool's context from `toolsContext`, as the AI SDK passed it to `execute`. */
  context: unknown;
}

/** Why a guarded tool call needs a human's yes (empty reason: the tool's own `needsApproval`). */
export interface ApprovalNeed {
  reason?: string;
}

/** A guarded tool's approval check: the tool's own `needsApproval`, OR-ed with the policy's rules. */
export type ApprovalCheck = (
  input: unknown,
  options: { toolCallId: string; messages: ModelMessage[]; context: unknown },
) => Promise<ApprovalNeed | undefined>;

/**
 * Where a guarded tool with an `approval` mapping carries its approval check: a `Symbol.for` key,
 * shared by every installed copy of this package, on the tool object itself (not enumerable, so a
 * spread copy of the tool does not carry a check for another `execute`).
 */
const APPROVAL_CHECK = Symbol.for('spendguard.ai-sdk.approvalCheck');

/** Brand a guarded tool with its approval check, for `spendguardToolApproval`. */
export function brandApprovalCheck(tool: object, check: ApprovalCheck): void {
  Object.defineProperty(tool, APPROVAL_CHECK, { value: check });
}

/** The approval check a guarded tool was branded with, if any. */
function approvalCheckOf(tool: unknown): ApprovalCheck | undefined {
  if (tool === null || typeof tool !== 'object') return undefined;
  const check = (tool as Record<symbol, unknown>)[APPROVAL_CHECK];
  return typeof check === 'function' ? (check as ApprovalCheck) : undefined;
}

/** `toolApproval` entries for `generateText` / `streamText` / `ToolLoopAgent`, per guarded tool. */
export type SpendguardToolApproval<TOOLS extends ToolSet> = {
  [NAME in keyof TOOLS]?: SingleToolApprovalFunction<InferToolInput<TOOLS[NAME]>, unknown, unknown>;
};

/**
 * The `toolApproval` setting of `generateText`, `streamText` or a `ToolLoopAgent` for tools wrapped
 * by `guardTools` / `guardTool` with an `approval` mapping: `'user-approval'` (with a reason the
 * approval UI can show) when the policy's approval rule matches the call, or the tool's own
 * `needsApproval` asks. Tools without a mapping get no entry, so their own `needsApproval` applies.
 *
 * The AI SDK's `toolApproval` wins over every tool's `needsApproval`: a generic function (one for
 * all tools) replaces them all, so spread these entries into a per-tool object instead:
 * `toolApproval: { ...spendguardToolApproval(tools), deleteFile: 'user-approval' }`.
 */
export function spendguardToolApproval<TOOLS extends ToolSet>(tools: TOOLS): SpendguardToolApproval<TOOLS> {
  const entries: Record<string, SingleToolApprovalFunction<unknown, unknown, unknown>> = {};
  for (const [name, tool] of Object.entries(tools)) {
    const check = approvalCheckOf(tool);
    if (!check) continue;
    entries[name] = async (input, { toolCallId, messages, toolContext }): Promise<ToolApprovalStatus> => {
      const need = await check(input, { toolCallId, messages, context: toolContext });
      if (!need) return undefined;
      return need.reason === undefined ? 'user-approval' : { type: 'user-approval', reason: need.reason };
    };
  }
  return entries as SpendguardToolApproval<TOOLS>;
}

/**
 * The human approval of this tool call that made the AI SDK run it: the `tool-approval-response`
 * with `approved: true`, in the last message (the tool message the app answered with), for a
 * `tool-approval-request` of this `toolCallId` that a human was asked (not an automatic one). The
 * AI SDK collects approvals the same way: from the last message, the first response per call.
 */
export function humanApprovalOf(
  messages: readonly ModelMessage[] | undefined,
  toolCallId: string,
): { approvalId: string; reason: string | undefined } | undefined {
  const last = messages?.at(-1);
  if (!messages || last?.role !== 'tool') return undefined;
  const asked = new Set<string>();
  for (const message of messages) {
    if (message.role !== 'assistant' || typeof message.content === 'string') continue;
    for (const part of message.content) {
      if (
        part.type === 'tool-approval-request' &&
        part.toolCallId === toolCallId &&
        part.isAutomatic !== true
      ) {
        asked.add(part.approvalId);
      }
    }
  }
  for (const part of last.content) {
    if (part.type !== 'tool-approval-response' || !asked.has(part.approvalId)) continue;
    return part.approved === true ? { approvalId: part.approvalId, reason: part.reason } : undefined;
  }
  return undefined;
}
