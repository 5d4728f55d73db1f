import type { RequestContext } from '@mastra/core/request-context';
import type { Operation } from '@spendguard/core';

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

/** A tool call a human approved through Mastra, about to run. */
export interface ApprovedToolCall {
  /** The tool's id. */
  toolName: string;
  /**
   * How it was approved: `agent` — `approveToolCall` / `approveToolCallGenerate` answered the
   * agent's `tool-call-approval`; `workflow` — `run.resume()` answered the step's suspension.
   */
  via: 'agent' | 'workflow';
  /** The agent's id of the tool call (none in a workflow step). */
  toolCallId: string | undefined;
  /** The run the call belongs to. */
  runId: string;
  /** The `reason` in the workflow's resume data, if any. */
  reason: string | undefined;
  /** The call's request context, e.g. to name the signed-in user. */
  requestContext: RequestContext | undefined;
}

/** What a workflow step is suspended with while the policy's approval rule waits for a human. */
export interface ApprovalSuspendPayload {
  /** Why: `spendguard: the policy wants a human's approval for stripe POST /v1/charges`. */
  reason: string;
  /** The tool's id and its input. */
  toolName: string;
  args: unknown;
}

/**
 * The answer to resume such a step with (`run.resume({ step, resumeData })`), the same shape as
 * Mastra's own tool approval: `{ approved: true }`, or `{ approved: false, reason }`.
 */
export interface ApprovalResumeData {
  approved: boolean;
  reason?: string;
}

/** The approval answer in a workflow's resume data: only a boolean `approved` counts. */
export function approvalAnswerOf(resumeData: unknown): ApprovalResumeData | undefined {
  if (resumeData === null || typeof resumeData !== 'object' || Array.isArray(resumeData)) return undefined;
  let approved: unknown;
  let reason: unknown;
  try {
    ({ approved, reason } = resumeData as { approved?: unknown; reason?: unknown });
  } catch {
    return undefined;
  }
  if (typeof approved !== 'boolean') return undefined;
  return typeof reason === 'string' ? { approved, reason } : { approved };
}

/** The vendor calls an approval mapping gives for an input, as a list. */
export function requestsOf(approval: ApprovalFunction<unknown>, input: unknown): readonly VendorRequest[] {
  const mapped = approval(input);
  return mapped === undefined ? [] : Array.isArray(mapped) ? mapped : [mapped as VendorRequest];
}
