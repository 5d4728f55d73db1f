import { ToolMessage } from '@langchain/core/messages';
import { Command } from '@langchain/langgraph';
import { VendorCallError } from '@spendguard/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resultMessage, storedMessage, storedOutput } from './stored-output.ts';

/** What a checkpoint does to a stored result: JSON in, JSON out. */
const roundTrip = (value: unknown) => JSON.parse(JSON.stringify(value) ?? 'null') as unknown;
const call = { toolCallId: 'call_2', name: 'charge' };

describe('storedOutput / resultMessage', () => {
  it('plain data is stored as it is and answered as a ToolNode formats it (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const stored = roundTrip(storedOutput(value, 'call_1'));
        expect(storedMessage(stored)).toBeUndefined();
        const message = resultMessage(stored, call);
        const expected = typeof value === 'string' ? value : JSON.stringify(roundTrip(value));
        expect(message.content).toBe(expected);
        expect(message.tool_call_id).toBe('call_2');
        expect(message.status).toBe('success');
      }),
      { numRuns: 300 },
    );
  });

  it("a ToolMessage the tool returned keeps its content and artifact, answered for the replaying call's id", () => {
    const own = new ToolMessage({
      content: 'charged ch_1',
      tool_call_id: 'call_1',
      artifact: { id: 'ch_1' },
    });
    const message = resultMessage(roundTrip(storedOutput(own, 'call_1')), call);
    expect(message).toMatchObject({
      content: 'charged ch_1',
      artifact: { id: 'ch_1' },
      tool_call_id: 'call_2',
      name: 'charge',
      status: 'success',
    });
  });

  it('a Command is stored as the content of its ToolMessage for the call', () => {
    const command = new Command({
      update: {
        messages: [
          new ToolMessage({ content: 'other', tool_call_id: 'call_9' }),
          new ToolMessage({ content: 'charged ch_1', tool_call_id: 'call_1' }),
        ],
      },
    });
    expect(resultMessage(roundTrip(storedOutput(command, 'call_1')), call).content).toBe('charged ch_1');
    expect(resultMessage(roundTrip(storedOutput(new Command({ goto: 'x' }), 'call_1')), call).content).toBe(
      '',
    );
  });

  it('a ToolMessage with status error is the tool failing: thrown, never stored as the result', () => {
    const failed = new ToolMessage({
      content: 'Tool failed after 3 attempts',
      tool_call_id: 'c',
      status: 'error',
    });
    let thrown: unknown;
    try {
      storedOutput(failed, 'c');
    } catch (error) {
      thrown = error;
    }
    expect(VendorCallError.isInstance(thrown)).toBe(true);
    expect((thrown as VendorCallError).message).toBe('Tool failed after 3 attempts');
  });
});
