import { type Guard, type Operation, policyApprovalReason, type RunKeys } from '@spendguard/core';
import { runIdOf } from './run-id.ts';

/**
 * A vendor call a tool makes, as the policy sees it: `{ vendor, method, path, params }` (and an
 * optional `cost` for vendors without a profile). For Stripe, `params` are the request's own
 * parameters in Stripe's units: `{ amount: 45_000, currency: 'usd', customer }` for $450.
 */
export type VendorRequest = Operation;

/**
 * The vendor call(s) a tool will make for an input, so approval rules (`approval.above`) can be
 * checked before the tool runs. The input is the model's arguments as the SDK hands them to
 * `needsApproval` (parsed JSON, not yet checked by the tool's schema). `undefined` or `[]`: this
 * input makes no call that could need one.
 */
export type ApprovalFunction<INPUT> = (input: INPUT) => VendorRequest | readonly VendorRequest[] | undefined;

/** A tool call a human approved through the SDK's approval flow (`state.approve(item)`), about to run. */
export interface ApprovedToolCall {
  /** The tool's name. */
  toolName: string;
  /** The model's id of the call (`item.rawItem.callId`), as audit rows carry it. */
  toolCallId: string | undefined;
  /** The run the call belongs to. */
  runId: string;
  /** The name of the agent that made the call, when known. */
  agentName: string | undefined;
  /** The run's context object (`run(agent, input, { context })`). */
  context: unknown;
}

/** The SDK's `needsApproval` of a function tool. */
export type NeedsApproval = (runContext: unknown, input: unknown, callId?: string) => Promise<boolean>;

/**
 * A guarded tool's `needsApproval`: the tool's own, OR-ed with the policy's approval rule for the
 * vendor call(s) the input maps to. Asked of the run's key (`guard.needsApproval`: no reservation,
 * no audit row); when the key cannot act it answers no, and the call then runs into core's refusal.
 */
export function approvalCheck(
  own: NeedsApproval,
  approval: ApprovalFunction<unknown>,
  settings: { guard: Guard; runKeys: RunKeys },
): NeedsApproval {
  return async (runContext, input, callId) => {
    if (await own(runContext, input, callId)) return true;
    const requests = mappedRequests(approval, input);
    const runId = runIdOf(contextOf(runContext), settings.runKeys);
    return (await policyApprovalReason(settings, { runId, requests })) !== undefined;
  };
}

/**
 * The vendor calls the app's mapping gives for the model's arguments. The mapping is written for
 * input its tool's schema allows, and the model can send any object: when the mapping throws, no
 * approval is asked (a throw here would reject the whole run). Nothing unapproved gets through
 * that way: the tool's schema refuses such input, and core checks the approval rule again at the
 * vendor call, which no human approved.
 */
function mappedRequests(approval: ApprovalFunction<unknown>, input: unknown): readonly VendorRequest[] {
  let mapped: ReturnType<ApprovalFunction<unknown>>;
  try {
    mapped = approval(input);
  } catch {
    return [];
  }
  if (mapped === undefined || mapped === null) return [];
  return Array.isArray(mapped) ? mapped : [mapped as VendorRequest];
}

/** What the wrapper reads of the SDK's `RunContext` to find an approval. */
interface ApprovalsLike {
  isToolApproved?: (approval: { toolName: string; callId: string; agent?: object }) => boolean | undefined;
  toJSON?: () => { approvals?: Record<string, { approved?: unknown } | undefined> };
}

/**
 * Whether a human approved this very call in the SDK's flow: `state.approve(item)` for this call
 * id, by this agent (the SDK binds the decision to the call's arguments and fails the run when a
 * call id is reused for other arguments). A sticky `approve(item, { alwaysApprove: true })` is
 * not claimed: it waves through later calls no human saw, and the policy's rule is per call.
 */
export function humanApproved(
  runContext: unknown,
  call: { toolName: string; callId: string | undefined; agent: object | undefined },
): boolean {
  if (runContext === null || typeof runContext !== 'object' || call.callId === undefined) return false;
  const approvals = runContext as ApprovalsLike;
  if (typeof approvals.isToolApproved !== 'function' || typeof approvals.toJSON !== 'function') return false;
  const query = { toolName: call.toolName, callId: call.callId, ...(call.agent && { agent: call.agent }) };
  if (approvals.isToolApproved(query) !== true) return false;
  const all = approvals.toJSON().approvals;
  const record = all && Object.hasOwn(all, call.toolName) ? all[call.toolName] : undefined;
  return Array.isArray(record?.approved) && record.approved.includes(call.callId);
}

function contextOf(runContext: unknown): unknown {
  return runContext !== null && typeof runContext === 'object'
    ? (runContext as { context?: unknown }).context
    : undefined;
}
