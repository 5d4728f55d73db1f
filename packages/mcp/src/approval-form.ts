import type { ElicitRequestFormParams, ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import { type Guard, SpendguardError } from '@spendguard/core';
import { APPROVE_FIELD, approvalQuestion, declinedBy } from './mcp-sentences.ts';
import type { PlannedOperation } from './tool-plan.ts';

/** Sends one `elicitation/create` to the client, tied to the tool call it is about. */
export type ApprovalAsker = (params: ElicitRequestFormParams) => Promise<ElicitResult>;

export interface ApprovalDetails {
  /** Core's approval id for this call (the same one the CLI approves). */
  approvalId: string;
  tool: string;
  operation: PlannedOperation;
  estimatedCostUsd: number;
  /** The client's name, shown to the user and named as who decided. */
  client: string;
}

/** Params that name whom a call's money goes to or comes from, in the order they are shown. */
const COUNTERPARTIES = ['customer', 'payment_intent', 'charge', 'invoice', 'destination', 'subscription'];
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Ask the user to approve one call (what, how much, to whom) and record the answer as core's
 * decision on its approval: approved, or denied naming the client. Returns whether an answer was
 * recorded. No answer — the form dismissed (`cancel`), the client failing, no answer in time —
 * leaves the approval pending, for an operator to decide from the CLI.
 *
 * Only ids from the arguments reach the form, never their free text: the model writes the
 * arguments, and what a person approves must not be worded by it.
 */
export async function askToApprove(
  guard: Guard,
  ask: ApprovalAsker,
  details: ApprovalDetails,
): Promise<boolean> {
  let answer: ElicitResult;
  try {
    answer = await ask({
      mode: 'form',
      message: approvalQuestion({
        what: describeOperation(details.operation),
        amount: `$${details.estimatedCostUsd.toFixed(2)} (estimated, in USD)`,
        whom: counterparty(details.operation),
        tool: details.tool,
        client: details.client,
        approvalId: details.approvalId,
      }),
      requestedSchema: { type: 'object', properties: { approve: APPROVE_FIELD }, required: ['approve'] },
    });
  } catch {
    return false;
  }
  if (answer.action === 'cancel') return false;
  const by = `${details.client} (MCP elicitation)`;
  const approved = answer.action === 'accept' && answer.content?.approve === true;
  try {
    if (approved) await guard.approvals.approve(details.approvalId, { by });
    else await guard.approvals.deny(details.approvalId, { by, reason: declinedBy(details.client) });
  } catch (error) {
    // Gone (pruned) meanwhile: the next execute asks again, or says why not.
    if (!(SpendguardError.isInstance(error) && error.code === 'approval_unknown')) throw error;
  }
  return true;
}

/** What the call does, in words a person approving it reads. */
export function describeOperation(operation: PlannedOperation): string {
  const { vendor, method, path } = operation;
  if (vendor === 'stripe' && method === 'POST') {
    const finalize = /^\/v1\/invoices\/([^/]+)\/finalize$/.exec(path);
    if (finalize) return `finalizing Stripe invoice ${finalize[1]}`;
    const named: Record<string, string> = {
      '/v1/refunds': 'a Stripe refund',
      '/v1/payment_links': 'a Stripe payment link',
      '/v1/payment_intents': 'a Stripe payment',
      '/v1/charges': 'a Stripe charge',
      '/v1/invoiceitems': 'a Stripe invoice item',
      '/v1/coupons': 'a Stripe coupon',
      '/v1/transfers': 'a Stripe transfer',
      '/v1/payouts': 'a Stripe payout',
      '/v1/subscriptions': 'a Stripe subscription',
    };
    if (Object.hasOwn(named, path)) return named[path] as string;
  }
  return `${vendor} ${method} ${path.length > 80 ? `${path.slice(0, 80)}…` : path}`;
}

function counterparty(operation: PlannedOperation): string | undefined {
  const parts: string[] = [];
  for (const name of COUNTERPARTIES) {
    const value = Object.hasOwn(operation.params, name) ? operation.params[name] : undefined;
    if (typeof value === 'string' && ID.test(value)) parts.push(`${name} ${value}`);
  }
  if (operation.account !== undefined && ID.test(operation.account))
    parts.push(`account ${operation.account}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}
