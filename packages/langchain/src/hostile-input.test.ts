import { randomUUID } from 'node:crypto';
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { tool } from '@langchain/core/tools';
import { END, MemorySaver, MessagesAnnotation, START, StateGraph } from '@langchain/langgraph';
import { ToolNode, toolsCondition } from '@langchain/langgraph/prebuilt';
import { BillingWorld } from '@spendguard/testkit/adapters';
import fc from 'fast-check';
import { createAgent } from 'langchain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { guardTools } from './guard-tools.ts';
import { spendguardMiddleware } from './middleware.ts';

// What the model sends (tool call ids, arguments) goes through the adapter's own mapping into
// core: whatever it is, each call gets exactly one answer for its own id, duplicates run once,
// nothing throws out of the graph and nothing reaches Object.prototype.

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());

const key = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'runId'),
);
const args = fc.dictionary(key, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });
const ids = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 300 }), { minLength: 2, maxLength: 2 });

/** A tool that takes any record and counts its executions. */
function recordTool() {
  const stats = { executions: 0 };
  const record = tool(
    async (input) => {
      stats.executions++;
      return { fields: Object.keys(input).length };
    },
    { name: 'record', description: 'Record anything.', schema: z.record(z.string(), z.unknown()) },
  );
  return { record, stats };
}

/** The model's one turn: the same call twice, under two ids, then a text answer. */
function twice(input: Record<string, unknown>, [a, b]: string[]) {
  return fakeModel()
    .respond(
      new AIMessage({
        content: '',
        tool_calls: [
          { id: a as string, name: 'record', args: input, type: 'tool_call' },
          { id: b as string, name: 'record', args: input, type: 'tool_call' },
        ],
      }),
    )
    .respond(new AIMessage('Done.'));
}

async function check(
  graph: { invoke(input: unknown, config: unknown): Promise<{ messages: unknown[] }> },
  callIds: string[],
  stats: { executions: number },
) {
  const before = Object.getOwnPropertyNames(Object.prototype).sort();
  const { messages } = await graph.invoke(
    { messages: [new HumanMessage('record this')] },
    { configurable: { thread_id: randomUUID() } },
  );
  const answers = messages.filter((m): m is ToolMessage => ToolMessage.isInstance(m));
  expect(answers.map((m) => m.tool_call_id)).toEqual(callIds);
  expect(answers[1]?.content).toEqual(answers[0]?.content);
  expect(stats.executions).toBeLessThanOrEqual(1);
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

describe('hostile tool calls (property)', () => {
  it('through createAgent and spendguardMiddleware', async () => {
    await fc.assert(
      fc.asyncProperty(args, ids, async (input, callIds) => {
        const { record, stats } = recordTool();
        const agent = createAgent({
          model: twice(input, callIds),
          tools: [record],
          middleware: [spendguardMiddleware({ guard: world.guard, key: world.rootToken })],
          checkpointer: new MemorySaver(),
        });
        await check(agent, callIds, stats);
      }),
      { numRuns: 25 },
    );
  });

  it('through a StateGraph, ToolNode and guardTools', async () => {
    await fc.assert(
      fc.asyncProperty(args, ids, async (input, callIds) => {
        const { record, stats } = recordTool();
        const tools = guardTools([record], { guard: world.guard, key: world.rootToken });
        const model = twice(input, callIds);
        const graph = new StateGraph(MessagesAnnotation)
          .addNode('agent', async (s) => ({ messages: [await model.invoke(s.messages)] }))
          .addNode('tools', new ToolNode(tools))
          .addEdge(START, 'agent')
          .addConditionalEdges('agent', toolsCondition, ['tools', END])
          .addEdge('tools', 'agent')
          .compile({ checkpointer: new MemorySaver() });
        await check(graph, callIds, stats);
      }),
      { numRuns: 25 },
    );
  });

  it('a tool that throws nothing useful (null, a string) is refused, not thrown', async () => {
    await world.reset(); // the properties above may have stored a result for these very args
    for (const thrown of [null, undefined, 'boom', 42]) {
      const bad = tool(
        async () => {
          throw thrown;
        },
        { name: 'record', description: 'd', schema: z.object({}) },
      );
      const agent = createAgent({
        model: fakeModel()
          .respond(
            new AIMessage({
              content: '',
              tool_calls: [{ id: 'c1', name: 'record', args: {}, type: 'tool_call' }],
            }),
          )
          .respond(new AIMessage('Done.')),
        tools: [bad],
        middleware: [spendguardMiddleware({ guard: world.guard, key: world.rootToken })],
      });
      const { messages } = await agent.invoke({ messages: [new HumanMessage('go')] });
      const answer = messages.find((m) => ToolMessage.isInstance(m)) as ToolMessage;
      expect(answer.status, String(thrown)).toBe('error');
      expect(JSON.parse(answer.content as string)).toMatchObject({ refused: true });
    }
  });
});
