import type { MastraCall } from './mastra-call.ts';

/**
 * The workflows Mastra runs an agent's loop as (`agentic-loop`, and `durable-agentic-loop` for
 * durable agents): their snapshots hold a run suspended for a tool call's approval.
 */
const AGENT_LOOP_WORKFLOWS = ['agentic-loop', 'durable-agentic-loop'];

/**
 * Whether Mastra suspended this agent run for a human's approval of this very tool call — so,
 * as the tool now runs, `approveToolCall` (or `resumeStream({ approved: true })`) answered yes:
 * a declined call never runs. Mastra hands the tool no sign of the approval, so it is read from
 * the run's snapshot in the Mastra instance's storage, which approval needs anyway. Anything
 * unreadable is no approval: the policy's approval rule is then answered in core.
 */
export async function approvedInAgentRun(context: unknown, call: MastraCall): Promise<boolean> {
  if (call.site !== 'agent' || call.runId === undefined || call.toolCallId === undefined) return false;
  try {
    const mastra = (context as { mastra?: { getStorage?: () => unknown } }).mastra;
    const storage = (await mastra?.getStorage?.()) as
      | { getStore?: (domain: string) => Promise<unknown> | unknown }
      | undefined;
    const workflows = (await storage?.getStore?.('workflows')) as
      | { loadWorkflowSnapshot?: (o: { workflowName: string; runId: string }) => Promise<unknown> }
      | undefined;
    if (typeof workflows?.loadWorkflowSnapshot !== 'function') return false;
    for (const workflowName of AGENT_LOOP_WORKFLOWS) {
      const snapshot = await workflows.loadWorkflowSnapshot({ workflowName, runId: call.runId });
      if (holdsApprovalRequest(snapshot, call.toolCallId)) return true;
    }
  } catch {
    // no storage, or a snapshot that cannot be read: no approval claimed
  }
  return false;
}

/**
 * Whether a workflow snapshot (an object, or its JSON) has a step suspended with Mastra's
 * approval request for this tool call: `suspendPayload.requireToolApproval.toolCallId`.
 */
export function holdsApprovalRequest(snapshot: unknown, toolCallId: string): boolean {
  let parsed = snapshot;
  if (typeof parsed === 'string') {
    try {
      parsed = JSON.parse(parsed);
    } catch {
      return false;
    }
  }
  try {
    const steps = field(parsed, 'context');
    if (steps === null || typeof steps !== 'object') return false;
    for (const step of Object.values(steps as Record<string, unknown>)) {
      const asked = field(field(field(step, 'suspendPayload'), 'requireToolApproval'), 'toolCallId');
      if (typeof asked === 'string' && asked === toolCallId) return true;
    }
  } catch {
    // a snapshot whose fields throw when read holds nothing
  }
  return false;
}

/** An own property of an object, or undefined. */
function field(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
  return (value as Record<string, unknown>)[key];
}
