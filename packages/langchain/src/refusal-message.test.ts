import {
  mapChatMessagesToStoredMessages,
  mapStoredMessagesToChatMessages,
  ToolMessage,
} from '@langchain/core/messages';
import type { ToolRefusal } from '@spendguard/core';
import { describe, expect, it } from 'vitest';
import { refusalMessage, refusalOf } from './refusal-message.ts';

const refusal: ToolRefusal = {
  refused: true,
  code: 'cap_exceeded',
  reason: 'the run cap of $100 would be exceeded',
  advice:
    'spendguard refused this call. Retrying will not help; do not call it again with the same arguments.',
};

describe('refusalMessage', () => {
  it('is a ToolMessage with status error whose content is the refusal the model reads', () => {
    const message = refusalMessage(refusal, {
      toolCallId: 'call_1',
      name: 'charge',
      runId: 'thread-1',
      stopped: false,
    });
    expect(message.status).toBe('error');
    expect(message.tool_call_id).toBe('call_1');
    expect(message.name).toBe('charge');
    expect(JSON.parse(message.content as string)).toEqual(refusal);
  });

  it('reads back from the message, also after a stored round trip, and only from spendguard’s', () => {
    const message = refusalMessage(refusal, {
      toolCallId: 'call_1',
      name: 'charge',
      runId: 'thread-1',
      stopped: true,
    });
    const [stored] = mapStoredMessagesToChatMessages(mapChatMessagesToStoredMessages([message]));
    expect(refusalOf(stored)).toEqual({ ...refusal, runId: 'thread-1', stopped: true });
    expect(
      refusalOf(new ToolMessage({ content: 'Error: x', tool_call_id: 'c', status: 'error' })),
    ).toBeUndefined();
    expect(
      refusalOf(
        new ToolMessage({
          content: '{}',
          tool_call_id: 'c',
          status: 'success',
          artifact: { spendguard: refusal },
        }),
      ),
    ).toBeUndefined();
    expect(refusalOf({ status: 'error', artifact: { spendguard: refusal } })).toBeUndefined();
  });
});
