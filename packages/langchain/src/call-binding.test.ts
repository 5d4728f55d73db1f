import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { callBinding, idOf } from './call-binding.ts';

const defaults = { defaultRunId: 'langchain-default' };

describe('callBinding', () => {
  it('reads the run from options, else the thread, else the default; the call id from the caller, else the config', () => {
    const config = {
      configurable: { thread_id: 'thread-1' },
      metadata: { lc_agent_name: 'billing-desk' },
      executionInfo: { threadId: 'thread-x', taskId: 'task-1' },
      toolCall: { id: 'call_from_config' },
      context: { customer: 'cus_1' },
    };
    expect(callBinding(config, defaults, 'call_1')).toEqual({
      runId: 'thread-1',
      threadId: 'thread-1',
      toolCallId: 'call_1',
      agentId: 'billing-desk',
      context: { customer: 'cus_1' },
    });
    expect(callBinding(config, { ...defaults, runId: 'run-7', agentId: 'refunds' })).toMatchObject({
      runId: 'run-7',
      threadId: 'thread-1',
      toolCallId: 'call_from_config',
      agentId: 'refunds',
    });
    // A task's own ids when the config has nothing else.
    expect(
      callBinding({ executionInfo: { threadId: 'thread-x', taskId: 'task-1' } }, defaults),
    ).toMatchObject({
      runId: 'thread-x',
      toolCallId: 'task-1',
    });
    expect(callBinding(undefined, defaults)).toEqual({
      runId: 'langchain-default',
      threadId: undefined,
      toolCallId: undefined,
      agentId: undefined,
      context: undefined,
    });
  });

  it('takes only usable ids: non-empty strings of at most 256 characters', () => {
    expect(idOf('call_1')).toBe('call_1');
    for (const bad of ['', 'x'.repeat(257), 42, null, {}, ['a']]) expect(idOf(bad)).toBeUndefined();
    expect(callBinding({ configurable: { thread_id: 'x'.repeat(300) } }, defaults).runId).toBe(
      'langchain-default',
    );
  });

  it('never throws on a hostile config, and binds only ids it was given (property)', () => {
    const slot = fc.oneof(fc.string(), fc.anything(), fc.constant(undefined));
    const config = fc.record(
      {
        configurable: fc.oneof(fc.dictionary(fc.string(), slot), fc.record({ thread_id: slot }), slot),
        metadata: fc.oneof(fc.record({ lc_agent_name: slot }), slot),
        executionInfo: fc.oneof(fc.record({ threadId: slot, taskId: slot }), slot),
        toolCall: fc.oneof(fc.record({ id: slot }), slot),
        toolCallId: slot,
        context: slot,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(config, slot, (value, given) => {
        const before = Object.getOwnPropertyNames(Object.prototype).length;
        const binding = callBinding(value as never, defaults, given);
        const offered = [
          given,
          (value.toolCall as { id?: unknown } | undefined)?.id,
          value.toolCallId,
          (value.executionInfo as { taskId?: unknown } | undefined)?.taskId,
        ];
        expect(typeof binding.runId).toBe('string');
        expect(binding.runId.length).toBeGreaterThan(0);
        expect(binding.runId.length).toBeLessThanOrEqual(256);
        if (binding.toolCallId !== undefined) expect(offered).toContain(binding.toolCallId);
        expect(Object.getOwnPropertyNames(Object.prototype)).toHaveLength(before);
      }),
      { numRuns: 300 },
    );
  });
});
