import { GraphDrained, GraphInterrupt } from '@langchain/langgraph';
import { expect, it } from 'vitest';
import { isBubbleUp, isDrained } from './graph-errors.ts';

it("recognises LangGraph's signals, and takes anything else a tool may throw without throwing", () => {
  expect(isBubbleUp(new GraphInterrupt([]))).toBe(true);
  expect(isBubbleUp(new GraphDrained('x'))).toBe(true);
  expect(isDrained(new GraphDrained('x'))).toBe(true);
  expect(isDrained(new GraphInterrupt([]))).toBe(false);
  // As another copy of LangGraph throws them: the marks, not the class.
  expect(isBubbleUp({ is_bubble_up: true })).toBe(true);
  expect(isDrained({ name: 'GraphDrained' })).toBe(true);
  for (const other of [null, undefined, 0, 'boom', new Error('boom'), Symbol('x')]) {
    expect(isBubbleUp(other)).toBe(false);
    expect(isDrained(other)).toBe(false);
  }
});
