import type { ExecuteDecision } from './decision.ts';

/** What a refused tool call returns to the model: readable, and clear that retrying will not help. */
export interface ToolRefusal {
  refused: true;
  code: string;
  reason: string;
  /** Said plainly so the model does not loop on the same call. */
  advice: string;
  approvalId?: string;
}

/** Decisions whose key can no longer act at all: the run must stop (the kill switch). */
export function stopsTheRun(decision: ExecuteDecision<unknown>): boolean {
  return (
    decision.decision === 'denied' && (decision.code === 'key_revoked' || decision.code === 'key_expired')
  );
}

/** The tool result a model reads for a refused, pending or failed call; undefined when the call ran. */
export function toolRefusal(decision: ExecuteDecision<unknown>): ToolRefusal | undefined {
  switch (decision.decision) {
    case 'executed':
    case 'replayed':
      return undefined;
    case 'needs_approval':
      return {
        refused: true,
        code: decision.code,
        reason: decision.message,
        advice:
          'A human must approve this call. Tell the user it awaits approval; do not call it again until then.',
        approvalId: decision.approvalId,
      };
    case 'failed':
      return {
        refused: true,
        code: decision.code,
        reason: decision.message,
        advice:
          decision.code === 'outcome_unknown'
            ? 'It may have gone through. Do not call it again now; report it to the user.'
            : 'The vendor refused it. Do not retry the same call; report the error to the user.',
      };
    case 'denied':
      return {
        refused: true,
        code: decision.code,
        reason: decision.message,
        advice:
          'spendguard refused this call. Retrying will not help; do not call it again with the same arguments.',
      };
  }
}

/** Whether a tool output is a spendguard refusal (for step handlers and UIs). */
export function isToolRefusal(output: unknown): output is ToolRefusal {
  if (output === null || typeof output !== 'object') return false;
  const o = output as Partial<ToolRefusal>;
  return o.refused === true && typeof o.code === 'string' && typeof o.reason === 'string';
}
