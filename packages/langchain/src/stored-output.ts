import { ToolMessage } from '@langchain/core/messages';
import { isCommand } from '@langchain/langgraph';
import { VendorCallError } from '@spendguard/core';

/** Marks what a checkpoint stores for a tool output that is a LangChain object, not plain data. */
const TAG = '~spendguard';

type StoredMessage = { [TAG]: 'tool-message'; content: unknown; artifact?: unknown };
type StoredCommand = { [TAG]: 'command'; content: unknown };

/**
 * What a checkpoint stores for a tool's output: plain data as it is; a `ToolMessage` the tool
 * returned as its content and artifact (the call id is the caller's, not stored); a `Command` as
 * the content of the `ToolMessage` it carries for this call. A `ToolMessage` with status `error`
 * is the tool failing: thrown as a `VendorCallError`, so the checkpoint fails (a later call may
 * run the tool again) instead of storing the failure as the result to replay.
 */
export function storedOutput(output: unknown, toolCallId: string | undefined): unknown {
  if (ToolMessage.isInstance(output)) {
    if (output.status === 'error') {
      throw new VendorCallError(textOf(output.content), { outcome: 'failed' });
    }
    return {
      [TAG]: 'tool-message',
      content: output.content,
      ...(output.artifact !== undefined && { artifact: output.artifact }),
    } satisfies StoredMessage;
  }
  if (isCommand(output)) {
    return { [TAG]: 'command', content: commandContent(output, toolCallId) } satisfies StoredCommand;
  }
  return output;
}

/** A stored `ToolMessage` or `Command` output, or undefined for plain data. */
export function storedMessage(stored: unknown): { content: unknown; artifact?: unknown } | undefined {
  if (stored === null || typeof stored !== 'object' || !Object.hasOwn(stored, TAG)) return undefined;
  const tagged = stored as StoredMessage | StoredCommand;
  if (tagged[TAG] !== 'tool-message' && tagged[TAG] !== 'command') return undefined;
  return 'artifact' in tagged
    ? { content: tagged.content, artifact: tagged.artifact }
    : { content: tagged.content };
}

/**
 * The `ToolMessage` the model reads for a result: a stored message or command rebuilt for this
 * call id, plain data as its JSON (a `ToolNode`'s own formatting).
 */
export function resultMessage(stored: unknown, call: { toolCallId: string; name: string }): ToolMessage {
  const message = storedMessage(stored);
  const content = message ? contentOf(message.content) : typeof stored === 'string' ? stored : json(stored);
  return new ToolMessage({
    content,
    tool_call_id: call.toolCallId,
    name: call.name,
    status: 'success',
    ...(message?.artifact !== undefined && { artifact: message.artifact }),
  });
}

/** The content of the `ToolMessage` a command carries for this call (or its first one). */
function commandContent(command: unknown, toolCallId: string | undefined): unknown {
  const update = (command as { update?: unknown }).update;
  const messages =
    update !== null &&
    typeof update === 'object' &&
    Array.isArray((update as { messages?: unknown }).messages)
      ? ((update as { messages: unknown[] }).messages as unknown[])
      : [];
  const toolMessages = messages.filter((m): m is ToolMessage => ToolMessage.isInstance(m));
  const own = toolMessages.find((m) => m.tool_call_id === toolCallId) ?? toolMessages[0];
  return own ? own.content : '';
}

/** Message content as LangChain takes it: a string or an array of content blocks. */
function contentOf(content: unknown): ToolMessage['content'] {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content as ToolMessage['content'];
  return json(content);
}

function textOf(content: unknown): string {
  return typeof content === 'string' ? content : json(content);
}

function json(value: unknown): string {
  return JSON.stringify(value) ?? '';
}
