import { isGraphBubbleUp, isGraphDrained } from '@langchain/langgraph';

/**
 * LangGraph's own signals, recognised by their marks (any installed copy of LangGraph), for
 * anything a tool may throw: LangGraph's checks read a property of the value, so a thrown `null`
 * or `undefined` would make them throw.
 */
function isObject(value: unknown): value is object {
  return value !== null && typeof value === 'object';
}

/** An `interrupt()`, a drain, a `Command` for a parent graph: must reach the graph as it is. */
export function isBubbleUp(error: unknown): boolean {
  return isObject(error) && isGraphBubbleUp(error);
}

/** The error `invoke` rejects with after `RunControl.requestDrain`. */
export function isDrained(error: unknown): error is { reason?: unknown } {
  return isObject(error) && isGraphDrained(error);
}
