import type { Operation } from '@spendguard/core';

/**
 * A vendor call a tool makes, as the policy sees it: `{ vendor, method, path, params }`. For
 * Stripe, `params` are the request's own parameters in Stripe's units: `{ amount: 45_000,
 * currency: 'usd', customer }` for $450.
 */
export type VendorRequest = Operation;

/**
 * The vendor call(s) a tool will make for an input, so the policy's approval rules
 * (`approval.above`) can be checked before the tool runs. `undefined` or `[]`: none that could need one.
 */
export type ApprovalFunction<INPUT> = (input: INPUT) => VendorRequest | readonly VendorRequest[] | undefined;

/** One call to approve, as `humanInTheLoopMiddleware` describes it (plus the model's call id). */
export interface ActionRequest {
  name: string;
  args: Record<string, unknown>;
  /** Why a human is asked: the policy's approval rule that matched. */
  description: string;
  toolCallId: string;
}

/** What a reviewer may answer for a tool. */
export interface ReviewConfig {
  actionName: string;
  allowedDecisions: ('approve' | 'reject')[];
}

/**
 * The value spendguard's `interrupt()` raises: shaped like `humanInTheLoopMiddleware`'s, so an
 * approval UI that renders those renders this. Answer it with `Command({ resume: { decisions } })`,
 * one decision per action request, in order.
 */
export interface ApprovalInterrupt {
  actionRequests: ActionRequest[];
  reviewConfigs: ReviewConfig[];
}

/** A reviewer's answer to one action request. */
export type ApprovalDecision = { type: 'approve' } | { type: 'reject'; message?: string | undefined };

/** The interrupt value asking for these calls, in the model's order. */
export function approvalInterrupt(asks: readonly ActionRequest[]): ApprovalInterrupt {
  const names = [...new Set(asks.map((a) => a.name))];
  return {
    actionRequests: asks.map(({ name, args, description, toolCallId }) => ({
      name,
      args,
      description,
      toolCallId,
    })),
    reviewConfigs: names.map((actionName) => ({ actionName, allowedDecisions: ['approve', 'reject'] })),
  };
}

/**
 * The decisions in a resume value (`{ decisions: [...] }`, as `humanInTheLoopMiddleware` takes
 * them): exactly `count`, each `approve` or `reject` (with an optional string message). Anything
 * else is undefined, and the question is asked again: nothing runs on an answer that does not fit.
 */
export function approvalDecisions(value: unknown, count: number): ApprovalDecision[] | undefined {
  if (value === null || typeof value !== 'object' || !Object.hasOwn(value, 'decisions')) return undefined;
  const decisions = (value as { decisions: unknown }).decisions;
  if (!Array.isArray(decisions) || decisions.length !== count) return undefined;
  const parsed: ApprovalDecision[] = [];
  for (const decision of decisions as unknown[]) {
    const one = decisionOf(decision);
    if (!one) return undefined;
    parsed.push(one);
  }
  return parsed;
}

function decisionOf(value: unknown): ApprovalDecision | undefined {
  if (value === null || typeof value !== 'object' || !Object.hasOwn(value, 'type')) return undefined;
  const { type } = value as { type: unknown };
  if (type === 'approve') return { type: 'approve' };
  if (type !== 'reject') return undefined;
  const message = Object.hasOwn(value, 'message') ? (value as { message: unknown }).message : undefined;
  if (message !== undefined && typeof message !== 'string') return undefined;
  return message === undefined || message === '' ? { type: 'reject' } : { type: 'reject', message };
}
