import { randomUUID } from 'node:crypto';
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { Command, MemorySaver } from '@langchain/langgraph';
import { RunStoppedError } from '@spendguard/core';
import { BillingWorld, chargeCall } from '@spendguard/testkit/adapters';
import { humanInTheLoopMiddleware } from 'langchain';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { guardTools } from './guard-tools.ts';
import { type SpendguardMiddlewareOptions, spendguardMiddleware } from './middleware.ts';
import { refusalOf } from './refusal-message.ts';
import { runStopOf } from './run-stop.ts';
import { billingTools } from './testing/billing.ts';
import { invokeThread, parsed, threadMessages, toolOutcomes } from './testing/drive.ts';
import { billingAgent } from './testing/graphs.ts';
import { scriptedModel } from './testing/scripted-model.ts';

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

function middleware(options: Partial<SpendguardMiddlewareOptions> = {}) {
  return spendguardMiddleware({ guard: world.guard, key: world.rootToken, ...options });
}

async function toolRows() {
  return (await world.guard.audit.list()).filter((r) => r.vendor === 'tool');
}

/** A tool that is not billing: it counts its runs and fails when asked to. */
function lookupTool() {
  const stats = { executions: 0 };
  const lookup = tool(
    async ({ q }) => {
      stats.executions++;
      if (q === 'fail') throw new Error('the lookup service is down');
      return `found ${q}`;
    },
    { name: 'lookup', description: 'Look something up.', schema: z.object({ q: z.string() }) },
  );
  return { lookup, stats };
}

describe('spendguardMiddleware: one line governs every tool of the agent', () => {
  it('checkpoints each tool; `tools` leaves the others alone; a guardTools tool is not checkpointed twice', async () => {
    const ids = await world.customers('amy');
    const { tools, stats } = billingTools(world.governedStripe());
    const { lookup, stats: lookups } = lookupTool();
    const twice = {
      calls: [
        { tool: 'lookup', input: { q: 'amy' } },
        { tool: 'lookup', input: { q: 'amy' } },
      ],
    };
    const charge = { calls: [chargeCall(ids.amy, 800, 'ord_1'), chargeCall(ids.amy, 800, 'ord_1')] };

    const all = scriptedModel([twice, charge, { text: 'ok' }]);
    await invokeThread(billingAgent(all, [...tools, lookup], { middleware: [middleware()] }), all, {
      prompt: 'go',
    });
    expect(lookups.executions).toBe(1);
    expect(stats.executions).toBe(1);

    await world.reset();
    const ids2 = await world.customers('amy');
    const only = scriptedModel([twice, { calls: [chargeCall(ids2.amy, 800, 'ord_1')] }, { text: 'ok' }]);
    const second = billingTools(world.governedStripe());
    await invokeThread(
      billingAgent(only, [...second.tools, lookup], { middleware: [middleware({ tools: ['charge'] })] }),
      only,
      {
        prompt: 'go',
      },
    );
    expect(lookups.executions).toBe(3); // not governed: both calls ran
    expect((await toolRows()).map((r) => r.operation)).toEqual(['CALL charge']);

    await world.reset();
    const ids3 = await world.customers('amy');
    const third = billingTools(world.governedStripe());
    const wrapped = guardTools(third.tools, { guard: world.guard, key: world.rootToken });
    const model = scriptedModel([{ calls: [chargeCall(ids3.amy, 800, 'ord_1')] }, { text: 'ok' }]);
    await invokeThread(billingAgent(model, wrapped, { middleware: [middleware()] }), model, { prompt: 'go' });
    expect((await toolRows()).map((r) => r.decision)).toEqual(['executed']);
  });

  it('a failing tool becomes a ToolMessage, never a rejected invoke (governed or not)', async () => {
    const ids = await world.customers('bo');
    const { lookup } = lookupTool();
    const failing = tool(
      async () => {
        throw new Error('the ledger is locked');
      },
      { name: 'refund', description: 'Refund.', schema: z.object({ customer: z.string() }) },
    );
    const model = scriptedModel([
      {
        calls: [
          { tool: 'lookup', input: { q: 'fail' } },
          { tool: 'refund', input: { customer: ids.bo } },
        ],
      },
      { text: 'Both failed.' },
    ]);
    const agent = billingAgent(model, [lookup, failing], { middleware: [middleware({ tools: ['refund'] })] });
    const run = await invokeThread(agent, model, { prompt: 'go' });
    expect(run.error).toBeUndefined();
    const [notGoverned, governed] = run.messages.filter((m): m is ToolMessage => ToolMessage.isInstance(m));
    expect(notGoverned?.status).toBe('error');
    expect(notGoverned?.content).toContain('the lookup service is down');
    expect(refusalOf(governed)).toMatchObject({
      refused: true,
      reason: expect.stringContaining('the ledger is locked'),
    });
    expect(model.served).toBe(2);
  });

  it('a misconfiguration is a ToolMessage too (a run key asked with other limits than it has)', async () => {
    const ids = await world.customers('cy');
    const { tools } = billingTools(world.governedStripe());
    const runId = `run-${randomUUID()}`;
    const first = scriptedModel([{ calls: [chargeCall(ids.cy, 100, 'ord_1')] }]);
    await invokeThread(
      billingAgent(first, tools, { middleware: [middleware({ runId, runKey: { caps: { perRun: 50 } } })] }),
      first,
      {
        prompt: 'go',
      },
    );
    const second = scriptedModel([{ calls: [chargeCall(ids.cy, 100, 'ord_2')] }, { text: 'ok' }]);
    const run = await invokeThread(
      billingAgent(second, tools, { middleware: [middleware({ runId, runKey: { caps: { perRun: 80 } } })] }),
      second,
      { prompt: 'go' },
    );
    expect(run.error).toBeUndefined();
    expect(toolOutcomes(run.messages.slice(run.seeded))[0]?.output).toMatchObject({
      refused: true,
      code: 'narrowing_violation',
    });
    expect(world.fake.ledger.count('charge')).toBe(1);
  });
});

describe('spendguardMiddleware: mapping createAgent in', () => {
  it("binds calls to the thread, names the agent, and traces each row to the tool call's LangChain run", async () => {
    const ids = await world.customers('dee');
    const { tools } = billingTools(world.governedStripe());
    const model = scriptedModel([{ calls: [chargeCall(ids.dee, 900, 'ord_1')] }, { text: 'ok' }]);
    const agent = billingAgent(model, tools, { middleware: [middleware()], name: 'billing-desk' });
    const runs: { runId: string; parentRunId: string | undefined; toolCallId: string | undefined }[] = [];
    // Every chain run of the trace, by id, with its parent: what LangSmith shows as the run tree.
    const chains = new Map<string, { name: string | undefined; parentRunId: string | undefined }>();
    const handler = BaseCallbackHandler.fromMethods({
      handleToolStart(_t, _i, runId, parentRunId, _tags, _md, _name, toolCallId) {
        runs.push({ runId, parentRunId, toolCallId });
      },
      handleChainStart(_chain, _inputs, runId, parentRunId, _tags, _md, _type, name) {
        chains.set(runId, { name, parentRunId });
      },
    });
    const threadId = `dee-${randomUUID()}`;
    await agent.invoke(
      { messages: [new HumanMessage('Charge Dee $9.')] },
      {
        configurable: { thread_id: threadId },
        callbacks: [handler],
      },
    );
    const [run] = runs;
    expect(run?.toolCallId).toMatch(/^call_/);
    const rows = await world.guard.audit.list();
    expect(rows.map((r) => [r.vendor, r.runId, r.toolCallId, r.agentId, r.traceId])).toEqual([
      ['stripe', threadId, run?.toolCallId, 'billing-desk', run?.runId],
      ['tool', threadId, run?.toolCallId, 'billing-desk', run?.runId],
    ]);
    // The tool run hangs in the agent's one trace: its parent is the tools step, its root the invoke.
    expect(chains.get(run?.parentRunId ?? '')?.name).toBe('tools');
    let top = run?.parentRunId;
    while (top && chains.get(top)?.parentRunId) top = chains.get(top)?.parentRunId;
    const roots = [...chains].filter(([, c]) => c.parentRunId === undefined).map(([id]) => id);
    expect(roots).toEqual([top]);
    // Untraced (no callbacks), the rows carry no trace id; options.runId and agentId win.
    await world.reset();
    const ids2 = await world.customers('dee');
    const named = scriptedModel([{ calls: [chargeCall(ids2.dee, 900, 'ord_1')] }, { text: 'ok' }]);
    const second = billingTools(world.governedStripe());
    await invokeThread(
      billingAgent(named, second.tools, {
        middleware: [middleware({ runId: 'session-7', agentId: 'refunds' })],
        name: 'billing-desk',
      }),
      named,
      { prompt: 'go' },
    );
    expect((await toolRows()).map((r) => [r.runId, r.agentId, r.traceId])).toEqual([
      ['session-7', 'refunds', null],
    ]);
  });
});

describe('spendguardMiddleware: the kill switch', () => {
  it('ends the run before the next model call; the thread stays refused while the key is revoked', async () => {
    const ids = await world.customers('ivy');
    const threadId = `ivy-${randomUUID()}`;
    const { tools, stats } = billingTools(world.governedStripe());
    const model = scriptedModel(async (n) => {
      if (n === 1) await world.revokeRun(threadId);
      return n < 3 ? { calls: [chargeCall(ids.ivy, 1000, `ord_${n}`)] } : { text: 'Charged.' };
    });
    const checkpointer = new MemorySaver();
    const agent = billingAgent(model, tools, { middleware: [middleware()], checkpointer });
    const config = { configurable: { thread_id: threadId } };
    // No abortController: the run ends normally, its last message the refusal that stopped it.
    const result = await agent.invoke({ messages: [new HumanMessage('Charge Ivy.')] }, config);
    expect(model.served).toBe(2);
    const stop = runStopOf(result);
    expect(RunStoppedError.isInstance(stop)).toBe(true);
    expect(stop?.code).toBe('key_revoked');
    expect(parsed((result.messages as ToolMessage[]).at(-1)?.content)).toMatchObject({ code: 'key_revoked' });

    // The thread resumed, or asked again: the model is not called while the key stays revoked.
    await agent.invoke(null, config);
    const asked = await agent.invoke({ messages: [new HumanMessage('Try again.')] }, config);
    expect(model.served).toBe(2);
    expect(runStopOf(asked)?.code).toBe('key_revoked');
    // A new process with the same checkpointer: still refused.
    const restarted = billingAgent(model, tools, { middleware: [middleware()], checkpointer });
    await restarted.invoke({ messages: [new HumanMessage('Please?')] }, config);
    expect(model.served).toBe(2);
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(stats.executions).toBe(1);

    // Bound to another run (a new run id), the same thread may go on.
    const rebound = billingAgent(model, tools, {
      middleware: [middleware({ runId: `fresh-${threadId}` })],
      checkpointer,
    });
    const after = await rebound.invoke({ messages: [new HumanMessage('Go on under the new run.')] }, config);
    expect(model.served).toBe(4);
    expect(world.fake.ledger.count('charge')).toBe(2);
    expect(runStopOf(after)).toBeUndefined();
    expect((await threadMessages(rebound, threadId)).at(-1)?.content).toBe('Charged.');
  });

  it('a thread that crashed mid-run, resumed with invoke(null) after its key was revoked, charges nothing more', async () => {
    const ids = await world.customers('lin');
    const threadId = `lin-${randomUUID()}`;
    const { tools, stats } = billingTools(world.governedStripe());
    const model = scriptedModel([
      { calls: [chargeCall(ids.lin, 1000, 'ord_1')] },
      { fails: new Error('the model provider is down') },
      { calls: [chargeCall(ids.lin, 2000, 'ord_2')] },
      { text: 'Charged.' },
    ]);
    const checkpointer = new MemorySaver();
    const agent = billingAgent(model, tools, { middleware: [middleware()], checkpointer });
    const config = { configurable: { thread_id: threadId } };
    // The process "crashes": the model call after the charge fails, the thread stays mid-run.
    await expect(agent.invoke({ messages: [new HumanMessage('Charge Lin.')] }, config)).rejects.toThrow(
      'the model provider is down',
    );
    expect((await agent.getState(config)).next).not.toEqual([]);
    // An operator pulls the thread's key while it is down; a new process resumes the thread.
    await world.revokeRun(threadId);
    const restarted = billingAgent(model, tools, { middleware: [middleware()], checkpointer });
    const resumed = await restarted.invoke(null, config);
    // The resumed run's charge is refused and the run ends there: no model call after it. (A new
    // process cannot derive the revoked run's key again: core reports that as key_invalid.)
    expect(runStopOf(resumed)?.code).toBe('key_invalid');
    expect(model.inputs()).toHaveLength(3);
    expect(world.fake.ledger.list('charge').map((c) => c.amount)).toEqual([1000]);
    expect(stats.executions).toBe(1);
    // Resumed again, or asked again, while the key stays revoked: no model call, no charge.
    await restarted.invoke(null, config);
    await restarted.invoke({ messages: [new HumanMessage('Try again.')] }, config);
    expect(model.inputs()).toHaveLength(3);
    expect(world.fake.ledger.count('charge')).toBe(1);
  });

  it('with an abortController, invoke rejects with the RunStoppedError', async () => {
    const ids = await world.customers('jo');
    const threadId = `jo-${randomUUID()}`;
    const { tools } = billingTools(world.governedStripe());
    const abortController = new AbortController();
    const model = scriptedModel(async (n) => {
      if (n === 1) await world.revokeRun(threadId);
      return { calls: [chargeCall(ids.jo, 1000, `ord_${n}`)] };
    });
    const run = await invokeThread(
      billingAgent(model, tools, { middleware: [middleware({ abortController })] }),
      model,
      {
        prompt: 'go',
        threadId,
        abortSignal: abortController.signal,
      },
    );
    expect(RunStoppedError.isInstance(run.error)).toBe(true);
    expect(run.error).toMatchObject({ code: 'key_revoked' });
    expect(model.served).toBe(2);
  });
});

describe('spendguardMiddleware with humanInTheLoopMiddleware', () => {
  async function play(decision: { type: 'approve' } | { type: 'reject'; message: string }) {
    const ids = await world.customers('kai');
    const { tools, stats } = billingTools(world.governedStripe());
    const model = scriptedModel([{ calls: [chargeCall(ids.kai, 2500, 'ord_1')] }, { text: 'ok' }]);
    const agent = billingAgent(model, tools, {
      middleware: [humanInTheLoopMiddleware({ interruptOn: { charge: true } }), middleware()],
    });
    const config = { configurable: { thread_id: randomUUID() } };
    const first = await agent.invoke({ messages: [new HumanMessage('Charge Kai $25.')] }, config);
    expect(first.__interrupt__).toHaveLength(1);
    expect(world.fake.ledger.count('charge')).toBe(0);
    await agent.invoke(new Command({ resume: { decisions: [decision] } }), config);
    return { stats, messages: await threadMessages(agent, config.configurable.thread_id) };
  }

  it('a call the human approved in HITL runs once through spendguard', async () => {
    const { stats } = await play({ type: 'approve' });
    expect(stats.executions).toBe(1);
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect((await toolRows()).map((r) => r.decision)).toEqual(['executed']);
  });

  it('a call the human rejected in HITL never reaches spendguard or Stripe', async () => {
    const { stats, messages } = await play({ type: 'reject', message: 'Not today.' });
    expect(stats.executions).toBe(0);
    expect(world.fake.ledger.count('charge')).toBe(0);
    expect(await world.guard.audit.list()).toEqual([]);
    expect(messages.find((m) => ToolMessage.isInstance(m))?.content).toBe('Not today.');
  });

  it("HITL's yes is not the policy's: a call its approval rule matches is asked again, then runs once", async () => {
    const ids = await world.customers('kai');
    const { tools, stats } = billingTools(world.governedStripe());
    const sg = middleware({
      tools,
      approval: {
        charge: ({ customer, amountCents, currency }) => ({
          vendor: 'stripe',
          method: 'POST',
          path: '/v1/charges',
          params: { amount: amountCents, currency, customer },
        }),
      },
    });
    const model = scriptedModel([{ calls: [chargeCall(ids.kai, 45_000, 'ord_1')] }, { text: 'ok' }]);
    const agent = billingAgent(model, tools, {
      middleware: [humanInTheLoopMiddleware({ interruptOn: { charge: true } }), sg],
    });
    const config = { configurable: { thread_id: randomUUID() } };
    const approve = new Command({ resume: { decisions: [{ type: 'approve' }] } });
    const hitl = await agent.invoke({ messages: [new HumanMessage('Charge Kai $450.')] }, config);
    expect(hitl.__interrupt__).toHaveLength(1);
    // HITL approved; spendguard asks for the policy's approval with its own interrupt.
    const policy = (await agent.invoke(approve, config)) as {
      __interrupt__?: { value: { actionRequests: { description: string }[] } }[];
    };
    expect(policy.__interrupt__?.[0]?.value.actionRequests).toEqual([
      expect.objectContaining({ name: 'charge', description: expect.stringContaining('spendguard') }),
    ]);
    expect(world.fake.ledger.count('charge')).toBe(0);
    await agent.invoke(new Command({ resume: { decisions: [{ type: 'approve' }] } }), config);
    expect(stats.executions).toBe(1);
    expect(world.fake.ledger.list('charge').map((c) => c.amount)).toEqual([45_000]);
    const stripeRows = (await world.guard.audit.list()).filter((r) => r.vendor === 'stripe');
    expect(stripeRows.map((r) => r.message)).toEqual([
      expect.stringMatching(/^approved by langgraph interrupt/),
    ]);
  });
});

describe('spendguardMiddleware: arguments the schema refuses', () => {
  it('never reach spendguard: LangChain asks the model to fix them, as without the middleware', async () => {
    const ids = await world.customers('lee');
    const { tools, stats } = billingTools(world.governedStripe());
    const model = scriptedModel([
      { calls: [{ tool: 'charge', input: { customer: ids.lee, amountCents: 'ten dollars', orderId: 'o' } }] },
      { calls: [chargeCall(ids.lee, 1000, 'ord_1')] },
      { text: 'Charged.' },
    ]);
    const run = await invokeThread(billingAgent(model, tools, { middleware: [middleware()] }), model, {
      prompt: 'go',
    });
    const [invalid, charged] = toolOutcomes(run.messages);
    expect(String(invalid?.error)).toMatch(/did not match expected schema/);
    expect(charged?.output).toMatchObject({ chargeId: expect.stringMatching(/^ch_/) });
    expect(stats.executions).toBe(1);
    expect((await toolRows()).map((r) => r.decision)).toEqual(['executed']);
  });
});
