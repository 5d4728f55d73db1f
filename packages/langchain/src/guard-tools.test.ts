import { randomUUID } from 'node:crypto';
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { DynamicStructuredTool, StructuredTool, tool } from '@langchain/core/tools';
import { Command, interrupt, isGraphDrained, MemorySaver } from '@langchain/langgraph';
import { RunStoppedError, SpendguardError } from '@spendguard/core';
import { BillingWorld, chargeCall, chargeOrder, type Turn } from '@spendguard/testkit/adapters';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type GuardToolsOptions, guardTool, guardTools, isGuardedTool } from './guard-tools.ts';
import { refusalOf } from './refusal-message.ts';
import { runStopOf } from './run-stop.ts';
import { type BillingTools, billingTools, chargeInput } from './testing/billing.ts';
import { invokeThread, parsed, threadMessages, toolOutcomes } from './testing/drive.ts';
import { billingAgent, toolNodeGraph } from './testing/graphs.ts';
import { scriptedModel } from './testing/scripted-model.ts';

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

/** The billing tools through `guardTools`, their Stripe client governed by the run binding. */
function guarded(options: Partial<GuardToolsOptions<BillingTools>> = {}) {
  const { tools, stats } = billingTools(world.governedStripe());
  return { tools: guardTools(tools, { guard: world.guard, key: world.rootToken, ...options }), stats };
}

async function toolRows() {
  return (await world.guard.audit.list()).filter((r) => r.vendor === 'tool');
}

/** Records the LangChain run of every tool call, as a LangSmith tracer sees it. */
class ToolRuns extends BaseCallbackHandler {
  name = 'tool-runs';
  runs: { runId: string; parentRunId: string | undefined; toolCallId: string | undefined }[] = [];
  override handleToolStart(
    _tool: unknown,
    _input: string,
    runId: string,
    parentRunId?: string,
    _tags?: string[],
    _metadata?: Record<string, unknown>,
    _runName?: string,
    toolCallId?: string,
  ) {
    this.runs.push({ runId, parentRunId, toolCallId });
  }
}

describe('guardTools: the tools stay LangChain tools', () => {
  it('keeps the class, name, description and schema, and runs in a ToolNode unchanged', async () => {
    const { tools } = billingTools(world.plainStripe());
    const [charge] = guardTools(tools, { guard: world.guard, key: world.rootToken });
    expect(charge).toBeInstanceOf(DynamicStructuredTool);
    expect(charge?.name).toBe('charge');
    expect(charge?.description).toBe(tools[0]?.description);
    expect(charge?.schema).toBe(chargeInput);
    expect(isGuardedTool(charge)).toBe(true);
    expect(isGuardedTool(tools[0])).toBe(false);
    // Wrapping a guarded tool again would checkpoint each call twice: it is returned as it is.
    expect(
      guardTool(charge as NonNullable<typeof charge>, { guard: world.guard, key: world.rootToken }),
    ).toBe(charge);
  });

  it('wraps a StructuredTool subclass, and refuses what is not a LangChain tool', async () => {
    const ids = await world.customers('sub');
    const stripe = world.governedStripe();
    class ChargeTool extends StructuredTool {
      name = 'charge';
      description = 'Charge (cents).';
      schema = chargeInput;
      runs = 0;
      protected override async _call(input: z.infer<typeof chargeInput>) {
        this.runs++;
        return chargeOrder(stripe, input);
      }
    }
    const own = new ChargeTool();
    const charge = guardTool(own, { guard: world.guard, key: world.rootToken });
    expect(charge).toBeInstanceOf(ChargeTool);
    const call = (id: string) => ({ ...chargeCall(ids.sub, 700, 'ord_1'), id });
    const model = scriptedModel([{ calls: [call('a'), call('b')] }]);
    await invokeThread(toolNodeGraph(model, [charge]), model, { prompt: 'go' });
    expect(own.runs).toBe(1);
    expect(world.fake.ledger.count('charge')).toBe(1);

    const notATool = { name: 'charge', invoke: async () => 'ok' };
    expect(() => guardTool(notATool, { guard: world.guard, key: world.rootToken })).toThrow(
      expect.objectContaining({ code: 'request_invalid' }),
    );
    try {
      guardTool(notATool, { guard: world.guard, key: world.rootToken });
    } catch (error) {
      expect(SpendguardError.isInstance(error)).toBe(true);
    }
  });
});

describe('guardTools: mapping LangGraph in', () => {
  it('binds each call to its thread; options.runId wins; without a thread, one run per toolset', async () => {
    const ids = await world.customers('gus');
    const call = (orderId: string): Turn => ({ calls: [chargeCall(ids.gus, 100, orderId)] });
    const shared = guarded();
    for (const [orderId, threadId] of [
      ['o1', 'thread-1'],
      ['o2', 'thread-2'],
    ] as const) {
      const model = scriptedModel([call(orderId)]);
      await invokeThread(toolNodeGraph(model, shared.tools), model, { prompt: 'go', threadId });
    }
    const named = guarded({ runId: 'session-42' });
    const model = scriptedModel([call('o3')]);
    await invokeThread(toolNodeGraph(model, named.tools), model, { prompt: 'go', threadId: 'thread-3' });
    // Outside any graph (no thread): the toolset's own run, one per guardTools call.
    const [charge] = guarded().tools;
    await charge?.invoke({ customer: ids.gus as string, amountCents: 100, orderId: 'o4' });
    await charge?.invoke({ customer: ids.gus as string, amountCents: 100, orderId: 'o5' });
    const runs = (await toolRows()).map((r) => r.runId);
    expect(runs.slice(0, 3)).toEqual(['thread-1', 'thread-2', 'session-42']);
    expect(runs[3]).toMatch(/^langchain-/);
    expect(runs[4]).toBe(runs[3]);
    // Each thread ran under its own run key.
    const keyIds = (await toolRows()).map((r) => r.keyId);
    expect((await world.runKey('thread-1'))?.id).toBe(keyIds[0]);
    expect(new Set(keyIds).size).toBe(4);
  });

  it("audit rows carry the model's call id, the agent's name and the tool call's LangChain run id", async () => {
    const ids = await world.customers('ida');
    const { tools } = guarded();
    const model = scriptedModel([{ calls: [chargeCall(ids.ida, 900, 'ord_1')] }, { text: 'ok' }]);
    const agent = billingAgent(model, tools, { name: 'billing-desk' });
    const runs = new ToolRuns();
    const threadId = `ida-${randomUUID()}`;
    await agent.invoke(
      { messages: [new HumanMessage('Charge Ida $9.')] },
      {
        configurable: { thread_id: threadId },
        callbacks: [runs],
      },
    );
    const [run] = runs.runs;
    expect(run?.toolCallId).toMatch(/^call_/);
    const rows = await world.guard.audit.list();
    expect(rows.map((r) => [r.vendor, r.runId, r.toolCallId, r.agentId, r.traceId])).toEqual([
      ['stripe', threadId, run?.toolCallId, 'billing-desk', run?.runId],
      ['tool', threadId, run?.toolCallId, 'billing-desk', run?.runId],
    ]);
  });

  it("LangGraph's run context is part of the checkpoint: two signed-in customers, two charges", async () => {
    const ids = await world.customers('alice', 'bob');
    const stripe = world.governedStripe();
    // The README's pattern: whose order it is comes from the request's context, not the model.
    const buy = tool(
      async ({ amountCents, orderId }, runtime) => {
        const { customer } = runtime.context as { customer: string };
        return chargeOrder(stripe, { customer, amountCents, currency: 'usd', orderId });
      },
      {
        name: 'buy',
        description: 'Charge the signed-in customer.',
        schema: z.object({ amountCents: z.number().int(), orderId: z.string() }),
      },
    );
    const tools = guardTools([buy], { guard: world.guard, key: world.rootToken });
    for (const customer of [ids.alice, ids.bob, ids.alice]) {
      const model = scriptedModel([
        { calls: [{ tool: 'buy', input: { amountCents: 2500, orderId: 'basket-1' } }] },
      ]);
      await toolNodeGraph(model, tools).invoke(
        { messages: [new HumanMessage('buy it')] },
        { configurable: { thread_id: randomUUID() }, context: { customer } },
      );
    }
    expect(world.fake.ledger.list('charge').map((c) => c.customer)).toEqual([ids.alice, ids.bob]);
  });

  it('keys the checkpoint on the named fields, or on a business key that may read the config', async () => {
    const reworded = async (options: Partial<GuardToolsOptions<BillingTools>>) => {
      await world.reset();
      const ids = await world.customers('hal');
      const billing = guarded(options);
      const model = scriptedModel([
        { calls: [chargeCall(ids.hal, 500, 'ord_1', { note: 'Thanks!' })] },
        { calls: [chargeCall(ids.hal, 500, 'ord_1', { note: 'Thank you for your order' })] },
      ]);
      await toolNodeGraph(model, billing.tools).invoke(
        { messages: [new HumanMessage('go')] },
        { configurable: { thread_id: randomUUID(), shop: 'eu-1' } },
      );
      return { executions: billing.stats.executions, rows: await toolRows() };
    };
    expect((await reworded({})).executions).toBe(2);
    const fields = await reworded({ fields: { charge: ['customer', 'amountCents', 'currency', 'orderId'] } });
    expect(fields.executions).toBe(1);
    expect(fields.rows.map((r) => r.decision)).toEqual(['executed', 'replayed']);
    const byOrder = await reworded({
      idempotencyKey: {
        charge: (input, { config }) => `${String(config.configurable?.shop)}:order:${input.orderId}`,
      },
    });
    expect(byOrder.executions).toBe(1);
    expect(byOrder.rows.map((r) => r.idempotencyKey)).toEqual(['eu-1:order:ord_1', 'eu-1:order:ord_1']);
  });
});

describe('guardTools: delivering the outcome LangGraph’s way', () => {
  it('a refusal is a ToolMessage with status error the model reads, never "Please fix your mistakes"', async () => {
    const ids = await world.customers('eve');
    const { tools } = guarded();
    const model = scriptedModel([{ calls: [chargeCall(ids.eve, 90_000, 'ord_1')] }, { text: 'Refused.' }]);
    const run = await invokeThread(toolNodeGraph(model, tools), model, { prompt: 'Charge Eve $900.' });
    const message = run.messages.find((m) => ToolMessage.isInstance(m)) as ToolMessage;
    expect(message.status).toBe('error');
    expect(message.content).not.toContain('Please fix your mistakes');
    expect(parsed(message.content)).toMatchObject({
      refused: true,
      code: 'param_not_allowed',
      advice: expect.stringMatching(/retrying will not help/i),
    });
    expect(refusalOf(message)).toMatchObject({
      code: 'param_not_allowed',
      runId: run.threadId,
      stopped: false,
    });
    expect(run.model.inputs()[1]).toContain('param_not_allowed');
    expect(world.fake.ledger.requests).toHaveLength(1); // the customer only
  });

  it('a ToolMessage, a content_and_artifact pair or a Command the tool returns is replayed as its own output', async () => {
    const ids = await world.customers('kim');
    const stripe = world.governedStripe();
    let runs = 0;
    const schema = z.object({ amountCents: z.number().int() });
    const charge = async (amountCents: number) => {
      runs++;
      return chargeOrder(stripe, { customer: ids.kim as string, amountCents, currency: 'usd', orderId: 'o' });
    };
    const asMessage = tool(
      async ({ amountCents }, config) => {
        const paid = await charge(amountCents);
        return new ToolMessage({
          content: `charged ${paid.chargeId}`,
          tool_call_id: config.toolCall?.id ?? '',
          artifact: paid,
        });
      },
      { name: 'as_message', description: 'd', schema },
    );
    const asPair = tool(
      async ({ amountCents }) => {
        const paid = await charge(amountCents);
        return [`charged ${paid.chargeId}`, paid];
      },
      { name: 'as_pair', description: 'd', schema, responseFormat: 'content_and_artifact' },
    );
    const asCommand = tool(
      async ({ amountCents }, config) => {
        const paid = await charge(amountCents);
        const message = new ToolMessage({
          content: `charged ${paid.chargeId}`,
          tool_call_id: config.toolCall?.id ?? '',
        });
        return new Command({ update: { messages: [message] } });
      },
      { name: 'as_command', description: 'd', schema },
    );
    const tools = guardTools([asMessage, asPair, asCommand], { guard: world.guard, key: world.rootToken });
    const twice = (name: string, amountCents: number) => ({
      calls: [
        { tool: name, input: { amountCents } },
        { tool: name, input: { amountCents } },
      ],
    });
    const model = scriptedModel([twice('as_message', 100), twice('as_pair', 200), twice('as_command', 300)]);
    const run = await invokeThread(toolNodeGraph(model, tools), model, { prompt: 'go' });
    expect(runs).toBe(3);
    const charges = world.fake.ledger.list('charge');
    const answers = run.messages.filter((m): m is ToolMessage => ToolMessage.isInstance(m));
    expect(answers.map((m) => m.content)).toEqual([0, 0, 1, 1, 2, 2].map((i) => `charged ${charges[i]?.id}`));
    // The first command was the tool's own (its update applied); the replay is its message, rebuilt.
    expect(answers[5]).toMatchObject({ name: 'as_command', status: 'success' });
    expect(answers[1]?.artifact).toMatchObject({ chargeId: charges[0]?.id });
    expect(answers[3]?.artifact).toMatchObject({ chargeId: charges[1]?.id });
    // Each answer is for its own call.
    expect(new Set(answers.map((m) => m.tool_call_id)).size).toBe(6);
  });

  it('invoked without a tool call (in a node), returns the result or the refusal itself', async () => {
    const ids = await world.customers('lou');
    const [charge] = guarded().tools;
    const input = { customer: ids.lou as string, amountCents: 300, orderId: 'ord_1' };
    expect(await charge?.invoke(input)).toMatchObject({ chargeId: expect.stringMatching(/^ch_/) });
    expect(await charge?.invoke({ ...input, amountCents: 90_000 })).toMatchObject({
      refused: true,
      code: 'param_not_allowed',
    });
  });
});

describe('guardTools: the kill switch', () => {
  it('drains the graph after the refused step; the thread stays refused when resumed, also by a new process', async () => {
    const ids = await world.customers('ivy');
    const checkpointer = new MemorySaver();
    const threadId = `ivy-${randomUUID()}`;
    const billing = guarded();
    const model = scriptedModel(async (n) => {
      if (n === 1) await world.revokeRun(threadId); // an operator pulls this thread's key
      return n < 4 ? { calls: [chargeCall(ids.ivy, 1000, `ord_${n}`)] } : { text: 'Done.' };
    });
    const graph = toolNodeGraph(model, billing.tools, { checkpointer });
    const config = { configurable: { thread_id: threadId } };
    const error = await graph.invoke({ messages: [new HumanMessage('Charge Ivy.')] }, config).catch((e) => e);
    expect(isGraphDrained(error)).toBe(true);
    const stop = runStopOf(error);
    expect(RunStoppedError.isInstance(stop)).toBe(true);
    expect(stop?.code).toBe('key_revoked');
    expect(model.served).toBe(2); // no model call after the refused step
    // The refused step was checkpointed: the model would read why.
    const messages = await threadMessages(graph, threadId);
    expect(refusalOf(messages.at(-1))).toMatchObject({ code: 'key_revoked', stopped: true, runId: threadId });
    expect(runStopOf({ messages })?.code).toBe('key_revoked');

    // Resumed, the model asks again: refused, drained again. No charge.
    const again = await graph.invoke(null, config).catch((e) => e);
    expect(runStopOf(again)?.code).toBe('key_revoked');
    // A new process (a new toolset, the same checkpointer) resumes the thread: still refused.
    const restarted = toolNodeGraph(model, guarded().tools, { checkpointer });
    const third = await restarted.invoke(null, config).catch((e) => e);
    expect(runStopOf(third)?.code).toBe('key_invalid');
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(
      toolOutcomes(await threadMessages(graph, threadId)).map((o) => (o.output as { code?: string }).code),
    ).toEqual([undefined, 'key_revoked', 'key_revoked', 'key_invalid']);
  });
});

describe('guardTools: LangGraph signals from inside the tool, and the prebuilt agent', () => {
  it("a tool's own interrupt() still pauses the graph, and the resumed call charges once", async () => {
    const ids = await world.customers('max');
    const stripe = world.governedStripe();
    let runs = 0;
    const charge = tool(
      async (input) => {
        runs++;
        const answer = interrupt({ question: `Charge ${input.amountCents}?` }) as { approved: boolean };
        return answer.approved ? chargeOrder(stripe, input) : 'not approved';
      },
      { name: 'charge', description: 'Charge (cents), asking first.', schema: chargeInput },
    );
    const model = scriptedModel([{ calls: [chargeCall(ids.max, 600, 'ord_1')] }, { text: 'ok' }]);
    const graph = toolNodeGraph(model, guardTools([charge], { guard: world.guard, key: world.rootToken }));
    const config = { configurable: { thread_id: randomUUID() } };
    const first = await graph.invoke({ messages: [new HumanMessage('go')] }, config);
    expect(first.__interrupt__).toEqual([expect.objectContaining({ value: { question: 'Charge 600?' } })]);
    expect(world.fake.ledger.count('charge')).toBe(0);
    await graph.invoke(new Command({ resume: { approved: true } }), config);
    expect(runs).toBe(2);
    expect(world.fake.ledger.count('charge')).toBe(1);
    // The paused attempt is recorded as failed, so the resumed one may run.
    expect((await toolRows()).map((r) => r.decision)).toEqual(['failed', 'executed']);
  });

  it("works as the tools of LangGraph's prebuilt createReactAgent, unchanged", async () => {
    const { createReactAgent } = await import('@langchain/langgraph/prebuilt');
    const ids = await world.customers('ned');
    const billing = guarded();
    const args = chargeCall(ids.ned, 700, 'ord_1').input as Record<string, unknown>;
    const model = fakeModel()
      .respondWithTools([
        { name: 'charge', args },
        { name: 'charge', args },
      ])
      .respond(new AIMessage('Charged Ned.'));
    const agent = createReactAgent({ llm: model, tools: billing.tools });
    const result = await agent.invoke({ messages: [new HumanMessage('Charge Ned $7.')] });
    expect(result.messages.at(-1)?.content).toBe('Charged Ned.');
    expect(billing.stats.executions).toBe(1);
    expect(world.fake.ledger.count('charge')).toBe(1);
  });
});
