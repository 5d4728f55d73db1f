import { TripWire } from '@mastra/core/agent';
import type { ToolRefusal } from '@spendguard/core';

/** The `processorId` of every tripwire spendguard raises (a workflow step's, the kill switch's). */
export const TRIPWIRE_ID = 'spendguard';

/** What a spendguard tripwire carries as its `metadata`: the refusal's code and reason. */
export interface SpendguardTripwire {
  /** Core's code (`key_revoked`, `param_not_allowed`, `approval_required`, …), or `approval_declined`. */
  code: string;
  reason: string;
  /** The tool that was refused, and its run. */
  toolName?: string;
  runId?: string;
  /** Core's approval id, for `approval_required` (approve it with `guard.approvals.approve(id)`). */
  approvalId?: string;
}

/**
 * A workflow step's way to end its run with a clear status: a thrown `TripWire` makes the run's
 * status `tripwire`, with `result.tripwire = { reason, metadata, processorId: 'spendguard' }`
 * (a plain error would be `failed` with a serialized message). There is no model in a step to
 * read a refusal, and `bail()` would end it as a `success`.
 */
export function refusalTripWire(
  refusal: Pick<ToolRefusal, 'code' | 'reason' | 'approvalId'>,
  call: { toolName: string; runId: string },
): TripWire<SpendguardTripwire> {
  const metadata: SpendguardTripwire = {
    code: refusal.code,
    reason: refusal.reason,
    toolName: call.toolName,
    runId: call.runId,
    ...(refusal.approvalId !== undefined && { approvalId: refusal.approvalId }),
  };
  return new TripWire(
    `spendguard refused ${call.toolName}: ${refusal.reason}`,
    { retry: false, metadata },
    TRIPWIRE_ID,
  );
}
