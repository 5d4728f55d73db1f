import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parsedArgs, pendingToolCalls } from './pending-calls.ts';

describe('pendingToolCalls', () => {
  const ai = new AIMessage({
    content: '',
    tool_calls: [
      { id: 'a', name: 'charge', args: { n: 1 } },
      { id: 'b', name: 'charge', args: { n: 2 } },
    ],
  });

  it('reads the unanswered calls of the last AI message, or a Send’s one call', () => {
    expect(pendingToolCalls({ messages: [new HumanMessage('hi'), ai] }).map((c) => c.id)).toEqual(['a', 'b']);
    const answered = new ToolMessage({ content: 'ok', tool_call_id: 'a' });
    expect(pendingToolCalls([new HumanMessage('hi'), ai, answered])).toEqual([
      { id: 'b', name: 'charge', args: { n: 2 } },
    ]);
    expect(pendingToolCalls({ lg_tool_call: { id: 'c', name: 'refund', args: {} }, messages: [ai] })).toEqual(
      [{ id: 'c', name: 'refund', args: {} }],
    );
    // Messages as a checkpoint or another copy of @langchain/core hands them: plain `type`s.
    expect(
      pendingToolCalls({ messages: [{ type: 'ai', tool_calls: [{ id: 'd', name: 'x', args: 1 }] }] }),
    ).toEqual([{ id: 'd', name: 'x', args: 1 }]);
  });

  it('never throws on any state, and returns only well-formed calls (property)', () => {
    fc.assert(
      fc.property(fc.anything(), (state) => {
        for (const call of pendingToolCalls(state)) {
          expect(typeof call.id).toBe('string');
          expect(typeof call.name).toBe('string');
        }
        for (const call of pendingToolCalls({ messages: [{ type: 'ai', tool_calls: [state, state] }] })) {
          expect(typeof call.id).toBe('string');
        }
      }),
    );
  });
});

describe('parsedArgs', () => {
  it('parses by a zod schema (defaults applied), takes other schemas as they are, reports failure', async () => {
    const schema = z.object({ n: z.number(), currency: z.string().default('usd') });
    expect(await parsedArgs(schema, { n: 1 })).toEqual({ ok: true, value: { n: 1, currency: 'usd' } });
    expect(await parsedArgs(schema, { n: 'one' })).toEqual({ ok: false });
    expect(await parsedArgs({ type: 'object' }, { n: 'one' })).toEqual({ ok: true, value: { n: 'one' } });
  });
});
