import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { approvalAnswerOf } from './approval.ts';
import { approvedInAgentRun, holdsApprovalRequest } from './approval-record.ts';
import { mastraCallOf } from './mastra-call.ts';

const asked = (toolCallId: unknown) => ({
  status: 'suspended',
  context: {
    executionWorkflow: { status: 'suspended', suspendPayload: { requireToolApproval: { toolCallId } } },
  },
});

describe('holdsApprovalRequest', () => {
  it("finds Mastra's approval request for exactly this tool call, in an object or its JSON", () => {
    expect(holdsApprovalRequest(asked('call_1'), 'call_1')).toBe(true);
    expect(holdsApprovalRequest(JSON.stringify(asked('call_1')), 'call_1')).toBe(true);
    expect(holdsApprovalRequest(asked('call_2'), 'call_1')).toBe(false);
  });

  it('never throws, and finds no approval where the id sits anywhere else', () => {
    const elsewhere = (id: string) =>
      fc.oneof(
        fc.constant({ context: { step: { suspendPayload: { toolCallId: id } } } }),
        fc.constant({ context: { step: { output: { requireToolApproval: { toolCallId: id } } } } }),
        fc.constant({ suspendPayload: { requireToolApproval: { toolCallId: id } } }),
        fc.constant({ context: { step: { suspendPayload: { requireToolApproval: { toolCallId: [id] } } } } }),
        fc.constant({
          context: Object.create({ step: { suspendPayload: { requireToolApproval: { toolCallId: id } } } }),
        }),
        fc.anything(),
      );
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).chain((id) => fc.tuple(fc.constant(id), elsewhere(id))),
        ([id, snapshot]) => {
          expect(holdsApprovalRequest(snapshot, id)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('approvedInAgentRun', () => {
  const call = mastraCallOf('charge', { runId: 'r1', agent: { toolCallId: 'call_1' } });

  it('reads the snapshot of the agent loop from Mastra’s storage', async () => {
    const seen: unknown[] = [];
    const storage = {
      getStore: async () => ({
        loadWorkflowSnapshot: async (o: unknown) => {
          seen.push(o);
          return asked('call_1');
        },
      }),
    };
    expect(await approvedInAgentRun({ mastra: { getStorage: () => storage } }, call)).toBe(true);
    expect(seen).toEqual([{ workflowName: 'agentic-loop', runId: 'r1' }]);
  });

  it('claims nothing without storage, when it fails, or outside an agent', async () => {
    const failing = { getStorage: () => ({ getStore: async () => Promise.reject(new Error('db down')) }) };
    for (const mastra of [undefined, {}, { getStorage: () => undefined }, failing]) {
      expect(await approvedInAgentRun({ mastra }, call)).toBe(false);
    }
    const step = mastraCallOf('charge', { workflow: { runId: 'r1' } });
    expect(await approvedInAgentRun({}, step)).toBe(false);
  });
});

describe('approvalAnswerOf', () => {
  it('is an answer only for a boolean `approved`, whatever the resume data holds', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true }), (resumeData) => {
        const answer = approvalAnswerOf(resumeData);
        const approved = (resumeData as { approved?: unknown } | null)?.approved;
        if (typeof approved === 'boolean' && !Array.isArray(resumeData))
          expect(answer?.approved).toBe(approved);
        else expect(answer).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });
});
