import { interopParseAsync, isInteropZodSchema } from '@langchain/core/utils/types';

/** A tool call of an AI message, as LangChain gives it (`{ id, name, args }`). */
export interface PendingCall {
  id: string;
  name: string;
  args: unknown;
}

/**
 * The tool calls a `ToolNode` runs for this state: a `Send`'s one call (`{ lg_tool_call }`), else
 * the calls of the last AI message that no `ToolMessage` answers yet. Read structurally (message
 * `type`s, not classes): a state from another copy of `@langchain/core` reads the same.
 */
export function pendingToolCalls(state: unknown): PendingCall[] {
  if (state !== null && typeof state === 'object' && 'lg_tool_call' in state) {
    const call = callOf((state as { lg_tool_call: unknown }).lg_tool_call);
    return call ? [call] : [];
  }
  const messages = Array.isArray(state)
    ? state
    : state !== null && typeof state === 'object' && Array.isArray((state as { messages?: unknown }).messages)
      ? (state as { messages: unknown[] }).messages
      : [];
  const answered = new Set<unknown>();
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as { type?: unknown; tool_call_id?: unknown; tool_calls?: unknown };
    if (typeOf(message) === 'tool') answered.add(message.tool_call_id);
    if (typeOf(message) === 'ai') {
      const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
      return calls.map(callOf).filter((c): c is PendingCall => c !== undefined && !answered.has(c.id));
    }
  }
  return [];
}

/** A tool's input parsed by its schema (zod, as `StructuredTool.call` parses it); other schemas take the args as they are. */
export async function parsedArgs(
  schema: unknown,
  args: unknown,
): Promise<{ ok: true; value: unknown } | { ok: false }> {
  if (!isInteropZodSchema(schema)) return { ok: true, value: args };
  try {
    return { ok: true, value: await interopParseAsync(schema, args) };
  } catch {
    return { ok: false };
  }
}

function typeOf(message: unknown): unknown {
  if (message === null || typeof message !== 'object') return undefined;
  const getType = (message as { getType?: unknown }).getType;
  return typeof getType === 'function' ? getType.call(message) : (message as { type?: unknown }).type;
}

function callOf(value: unknown): PendingCall | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { id, name, args } = value as { id?: unknown; name?: unknown; args?: unknown };
  return typeof id === 'string' && typeof name === 'string' ? { id, name, args } : undefined;
}
