import { randomUUID } from 'node:crypto';
import { HumanMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { Annotation, END, interrupt, MemorySaver, Send, START, StateGraph } from '@langchain/langgraph';
import { isToolRefusal } from '@spendguard/core';
import { BillingWorld, chargeCall, chargeOrder, type ScriptedCall } from '@spendguard/testkit/adapters';
import { toolRetryMiddleware } from 'langchain';
import type Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import type { VendorRequest } from './approval-request.ts';
import { type GuardToolsOptions, guardTools } from './guard-tools.ts';
import { spendguardMiddleware } from './middleware.ts';
import { chargeInput } from './testing/billing.ts';
import { invokeThread, threadMessages, toolOutcomes } from './testing/drive.ts';
import { billingAgent, toolNodeGraph } from './testing/graphs.ts';
import { scriptedModel } from './testing/scripted-model.ts';

// LangGraph's own ways of running a billing tool again, each shown charging twice without
// spendguard and once with it: a node retryPolicy, a crashed step resumed with invoke(null), a
// Send fan-out re-dispatched, toolRetryMiddleware, parallel calls, and an approval interrupt.

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

/** The charge tool over a Stripe client, and how often its own code ran. */
function chargeTool(stripe: Stripe, options: { approveAbove?: number } = {}) {
  const stats = { executions: 0 };
  const charge = tool(
    async (input) => {
      // Without spendguard an app asks for approval itself, with LangGraph's interrupt().
      if (options.approveAbove !== undefined && input.amountCents > options.approveAbove) {
        const answer = interrupt({ question: `Charge ${input.amountCents}?` }) as { approved?: boolean };
        if (!answer.approved) return 'not approved';
      }
      stats.executions++;
      return chargeOrder(stripe, input);
    },
    { name: 'charge', description: 'Charge a customer (cents).', schema: chargeInput },
  );
  return { charge, stats };
}

/** A receipt tool whose mail provider fails the first `failures` times. */
function receiptTool(failures = 1) {
  let calls = 0;
  return tool(
    async ({ orderId }) => {
      if (++calls <= failures) throw new Error('the mail provider timed out');
      return `receipt sent for ${orderId}`;
    },
    { name: 'send_receipt', description: 'Email the receipt.', schema: z.object({ orderId: z.string() }) },
  );
}

type ChargeTool = ReturnType<typeof chargeTool>['charge'];

/** The charge tool for a column: plain, or through `guardTools` over the governed Stripe client. */
function billing(governed: boolean, extra: Omit<GuardToolsOptions<ChargeTool[]>, 'guard' | 'key'> = {}) {
  const { charge, stats } = chargeTool(governed ? world.governedStripe() : world.plainStripe());
  if (!governed) return { charge, stats };
  const [guarded] = guardTools([charge], { guard: world.guard, key: world.rootToken, ...extra });
  return { charge: guarded, stats };
}

function receiptCall(orderId: string): ScriptedCall {
  return { tool: 'send_receipt', input: { orderId } };
}

async function toolRows() {
  return (await world.guard.audit.list()).filter((r) => r.vendor === 'tool');
}

describe('a node retryPolicy re-runs the whole tools node (F1)', () => {
  async function play(governed: boolean) {
    const ids = await world.customers('ada');
    const { charge, stats } = billing(governed);
    const model = scriptedModel([
      { calls: [chargeCall(ids.ada, 4999, 'ord_1'), receiptCall('ord_1')] },
      { text: 'Charged Ada and sent the receipt.' },
    ]);
    // handleToolErrors off: the receipt's error fails the node, and its retryPolicy runs it again.
    const graph = toolNodeGraph(model, [charge, receiptTool()], {
      handleToolErrors: false,
      retryPolicy: { maxAttempts: 2, initialInterval: 1, jitter: false },
    });
    const run = await invokeThread(graph, model, { prompt: 'Charge Ada $49.99, then send the receipt.' });
    expect(run.error).toBeUndefined();
    return { run, stats };
  }

  it('without spendguard: the charge that succeeded runs again, Ada pays twice', async () => {
    const { stats } = await play(false);
    await vi.waitFor(() => expect(world.fake.ledger.count('charge')).toBe(2));
    expect(stats.executions).toBe(2);
  });

  it('with spendguard: the retried node replays the charge under the same tool call id', async () => {
    const { run } = await play(true);
    expect(world.fake.ledger.count('charge')).toBe(1);
    const rows = await toolRows();
    expect(rows.map((r) => r.decision)).toEqual(['executed', 'replayed']);
    const [callId] = run.messages.flatMap((m) => (m as { tool_calls?: { id: string }[] }).tool_calls ?? []);
    expect(rows.every((r) => r.toolCallId === callId?.id)).toBe(true);
    // The thread is the run: its id is on both rows.
    expect(rows.map((r) => r.runId)).toEqual([run.threadId, run.threadId]);
    expect(toolOutcomes(run.messages)[0]?.output).toMatchObject({ chargeId: expect.stringMatching(/^ch_/) });
  });
});

describe('a crashed step resumed with invoke(null), then the thread re-asked (F1/F4)', () => {
  async function play(governed: boolean) {
    const ids = await world.customers('bea');
    const { charge } = billing(governed);
    const model = scriptedModel([
      { calls: [chargeCall(ids.bea, 2500, 'ord_2'), receiptCall('ord_2')] },
      { text: 'Charged Bea.' },
      { calls: [chargeCall(ids.bea, 2500, 'ord_2')] },
      { text: 'Charged Bea (again?).' },
    ]);
    const graph = toolNodeGraph(model, [charge, receiptTool()], { handleToolErrors: false });
    const config = { configurable: { thread_id: `bea-${randomUUID()}` } };
    // The step fails after the charge went through: nothing of it is checkpointed.
    await expect(graph.invoke({ messages: [new HumanMessage('Charge Bea $25.')] }, config)).rejects.toThrow(
      'the mail provider timed out',
    );
    expect((await graph.getState(config)).next).toEqual(['tools']);
    // The app resumes the thread from its checkpoint: LangGraph runs the tools node again.
    await graph.invoke(null, config);
    // Later the user asks again on the same thread, and the model charges with a new call id.
    await graph.invoke(
      { messages: [new HumanMessage('Did that go through? If unsure, charge again.')] },
      config,
    );
    return { messages: await threadMessages(graph, config.configurable.thread_id) };
  }

  it('without spendguard: the resumed step charges again, and so does the re-asked model', async () => {
    await play(false);
    await vi.waitFor(() => expect(world.fake.ledger.count('charge')).toBe(3));
  });

  it('with spendguard: one charge; the resumed call and the new call id get its result', async () => {
    const { messages } = await play(true);
    expect(world.fake.ledger.count('charge')).toBe(1);
    const outcomes = toolOutcomes(messages).filter((o) => typeof o.output === 'object');
    expect(outcomes).toHaveLength(2);
    expect(outcomes[1]?.output).toEqual(outcomes[0]?.output);
    expect(outcomes[1]?.toolCallId).not.toBe(outcomes[0]?.toolCallId);
    // LangGraph aborts the charge's signal when its sibling fails, so its first execution may be
    // recorded as failed; the Stripe call inside it went through once and is replayed after.
    const decisions = (await toolRows()).map((r) => r.decision);
    expect(decisions.slice(-2)).toEqual(['executed', 'replayed']);
    expect(decisions.slice(0, -2).every((d) => d === 'failed')).toBe(true);
    const stripe = (await world.guard.audit.list()).filter((r) => r.vendor === 'stripe');
    expect(stripe.map((r) => r.decision)).toEqual(['executed', ...stripe.slice(1).map(() => 'replayed')]);
  });
});

describe('a Send fan-out re-dispatched after a partial failure (F3)', () => {
  const State = Annotation.Root({
    customers: Annotation<string[]>(),
    charged: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
  });

  async function play(governed: boolean) {
    const names = ['c1', 'c2', 'c3', 'c4', 'c5'];
    const ids = await world.customers(...names);
    world.fake.faults.inject(
      { kind: 'rate_limit' },
      { match: (req) => (req.params as { customer?: string }).customer === ids.c4 },
    );
    const { charge, stats } = billing(governed);
    // The billing node as an app writes it: a refused or failed charge fails the node.
    const bill = async ({ customer }: { customer: string }, config: object) => {
      const out = await charge.invoke({ customer, amountCents: 2000, orderId: `inv_${customer}` }, config);
      if (isToolRefusal(out)) throw new Error(`charge refused: ${out.reason}`);
      return { charged: [(out as { chargeId: string }).chargeId] };
    };
    const graph = new StateGraph(State)
      .addNode('bill', bill as never)
      .addConditionalEdges(START, (s) => s.customers.map((c) => new Send('bill', { customer: c })), ['bill'])
      .addEdge('bill', END)
      .compile({ checkpointer: new MemorySaver() });
    const customers = names.map((n) => ids[n] as string);
    // p-retry's pattern: the whole run again (a new thread) until it succeeds.
    const errors: unknown[] = [];
    let charged: string[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        ({ charged } = await graph.invoke({ customers }, { configurable: { thread_id: randomUUID() } }));
        break;
      } catch (error) {
        errors.push(error);
      }
    }
    return { errors, stats, charged };
  }

  it('without spendguard: the retry bills the four customers already billed again', async () => {
    const { errors } = await play(false);
    expect(errors).toHaveLength(1);
    await vi.waitFor(() => expect(world.fake.ledger.count('charge')).toBe(9));
  });

  it('with spendguard: five charges; the four re-dispatched get the charges of the first run', async () => {
    const { errors, charged } = await play(true);
    expect(errors).toHaveLength(1);
    expect(world.fake.ledger.count('charge')).toBe(5);
    expect([...charged].sort()).toEqual(
      world.fake.ledger
        .list('charge')
        .map((c) => c.id)
        .sort(),
    );
    const audit = await world.guard.audit.list();
    expect(audit.filter((r) => r.vendor === 'stripe' && r.decision === 'executed')).toHaveLength(5);
    // Each re-dispatched customer is replayed once: the whole tool, or (when LangGraph aborted it as
    // the failed task's sibling, so it re-ran) the Stripe call inside it.
    expect(audit.filter((r) => r.decision === 'replayed')).toHaveLength(4);
    // No tool call here (the node invokes the tool): the audit row names LangGraph's task instead.
    const rows = await toolRows();
    expect(rows.every((r) => typeof r.toolCallId === 'string' && r.toolCallId.length > 0)).toBe(true);
  });
});

describe('toolRetryMiddleware re-runs a call whose first attempt charged, then threw (F5)', () => {
  /** A tool that charges, then emails the receipt: the mail provider fails the first time. */
  function chargeAndReceipt(stripe: Stripe) {
    const stats = { executions: 0 };
    let mails = 0;
    const charge = tool(
      async (input) => {
        stats.executions++;
        const paid = await chargeOrder(stripe, input);
        if (++mails === 1) throw new Error('the mail provider timed out');
        return paid;
      },
      { name: 'charge', description: 'Charge and email the receipt.', schema: chargeInput },
    );
    return { charge, stats };
  }
  const retry = () => toolRetryMiddleware({ maxRetries: 2, initialDelayMs: 0, jitter: false });

  async function play(order: 'none' | 'spendguard-first' | 'retry-first') {
    const ids = await world.customers('cal');
    const governed = order !== 'none';
    const { charge, stats } = chargeAndReceipt(governed ? world.governedStripe() : world.plainStripe());
    const sg = () => spendguardMiddleware({ guard: world.guard, key: world.rootToken });
    const middleware =
      order === 'none' ? [retry()] : order === 'spendguard-first' ? [sg(), retry()] : [retry(), sg()];
    const model = scriptedModel([{ calls: [chargeCall(ids.cal, 3000, 'ord_5')] }, { text: 'Done.' }]);
    const run = await invokeThread(billingAgent(model, [charge], { middleware }), model, {
      prompt: 'Charge Cal $30.',
    });
    expect(run.error).toBeUndefined();
    return { stats, outcome: toolOutcomes(run.messages)[0] };
  }

  it('without spendguard: the retry charges Cal again', async () => {
    const { stats } = await play('none');
    expect(stats.executions).toBe(2);
    expect(world.fake.ledger.count('charge')).toBe(2);
  });

  it('with spendguard listed first: the retry runs inside one checkpoint, the charge is replayed', async () => {
    const { stats, outcome } = await play('spendguard-first');
    expect(stats.executions).toBe(2);
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(outcome?.output).toMatchObject({ chargeId: world.fake.ledger.list('charge')[0]?.id });
    const rows = (await world.guard.audit.list()).map((r) => [r.vendor, r.decision]);
    expect(rows).toEqual([
      ['stripe', 'executed'],
      ['stripe', 'replayed'],
      ['tool', 'executed'],
    ]);
  });

  it('with spendguard listed after the retry: the failure is a ToolMessage, never retried', async () => {
    const { stats, outcome } = await play('retry-first');
    expect(stats.executions).toBe(1);
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(outcome?.output).toMatchObject({
      refused: true,
      reason: expect.stringContaining('mail provider'),
    });
  });

  it('a refusal is never retried, whichever is listed first', async () => {
    for (const order of ['spendguard-first', 'retry-first'] as const) {
      await world.reset();
      const ids = await world.customers('dan');
      const { charge, stats } = chargeAndReceipt(world.governedStripe());
      const sg = spendguardMiddleware({ guard: world.guard, key: world.rootToken });
      const middleware = order === 'spendguard-first' ? [sg, retry()] : [retry(), sg];
      const model = scriptedModel([{ calls: [chargeCall(ids.dan, 90_000, 'ord_6')] }, { text: 'Refused.' }]);
      const run = await invokeThread(billingAgent(model, [charge], { middleware }), model, { prompt: 'go' });
      expect(stats.executions, order).toBe(1);
      expect(toolOutcomes(run.messages)[0]?.output, order).toMatchObject({ code: 'param_not_allowed' });
      expect(
        (await world.guard.audit.list()).filter((r) => r.decision === 'denied'),
        order,
      ).toHaveLength(2);
    }
  });
});

describe('two identical calls in one AI message run in parallel (F2)', () => {
  for (const driver of ['tool-node', 'create-agent'] as const) {
    async function play(governed: boolean) {
      const ids = await world.customers('eli');
      const model = scriptedModel([
        { calls: [chargeCall(ids.eli, 1500, 'ord_7'), chargeCall(ids.eli, 1500, 'ord_7')] },
        { text: 'Charged Eli.' },
      ]);
      const stripe = governed ? world.governedStripe() : world.plainStripe();
      const { charge, stats } = chargeTool(stripe);
      const graph =
        driver === 'tool-node'
          ? toolNodeGraph(
              model,
              governed ? guardTools([charge], { guard: world.guard, key: world.rootToken }) : [charge],
            )
          : billingAgent(model, [charge], {
              middleware: governed
                ? [spendguardMiddleware({ guard: world.guard, key: world.rootToken })]
                : [],
            });
      const run = await invokeThread(graph, model, { prompt: 'Charge Eli $15.' });
      return { run, stats };
    }

    it(`${driver}, without spendguard: Eli is charged twice`, async () => {
      const { stats } = await play(false);
      expect(stats.executions).toBe(2);
      expect(world.fake.ledger.count('charge')).toBe(2);
    });

    it(`${driver}, with spendguard: one charge, both ToolMessages carry it`, async () => {
      const { run, stats } = await play(true);
      expect(stats.executions).toBe(1);
      expect(world.fake.ledger.count('charge')).toBe(1);
      const [a, b] = toolOutcomes(run.messages);
      expect(a?.toolCallId).not.toBe(b?.toolCallId);
      expect(b?.output).toEqual(a?.output);
      expect((await toolRows()).map((r) => r.decision).sort()).toEqual(['executed', 'replayed']);
    });
  }
});

describe('an approval interrupt, then resume (siblings of the paused call)', () => {
  const chargeRequest = (input: {
    customer: string;
    amountCents: number;
    currency: string;
  }): VendorRequest => ({
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: input.amountCents, currency: input.currency, customer: input.customer },
  });

  async function play(governed: boolean) {
    const ids = await world.customers('fay', 'gus');
    const { charge, stats } = governed
      ? billing(true, { approval: { charge: chargeRequest } })
      : chargeTool(world.plainStripe(), { approveAbove: 40_000 });
    const model = scriptedModel([
      { calls: [chargeCall(ids.gus, 2000, 'ord_8'), chargeCall(ids.fay, 45_000, 'ord_9')] },
      { text: 'Charged both.' },
    ]);
    const graph = toolNodeGraph(model, [charge]);
    const config = { configurable: { thread_id: `approval-${randomUUID()}` } };
    const first = await graph.invoke(
      { messages: [new HumanMessage('Charge Gus $20 and Fay $450.')] },
      config,
    );
    expect(first.__interrupt__).toHaveLength(1);
    const resume = governed ? { decisions: [{ type: 'approve' }] } : { approved: true };
    const { Command } = await import('@langchain/langgraph');
    await graph.invoke(new Command({ resume }), config);
    return { stats, messages: await threadMessages(graph, config.configurable.thread_id), first };
  }

  it('without spendguard: the ToolNode runs the sibling again on resume, Gus pays twice', async () => {
    const { stats } = await play(false);
    expect(stats.executions).toBe(3);
    expect(world.fake.ledger.list('charge').map((c) => c.amount)).toEqual([2000, 2000, 45_000]);
  });

  it('with spendguard: the approved call runs once, audited as approved; the sibling is replayed', async () => {
    const { stats, messages, first } = await play(true);
    expect(
      world.fake.ledger
        .list('charge')
        .map((c) => c.amount)
        .sort(),
    ).toEqual([2000, 45_000]);
    expect(stats.executions).toBe(2);
    const [asked] = first.__interrupt__ as { value: { actionRequests: { args: unknown }[] } }[];
    expect(asked?.value.actionRequests).toEqual([
      expect.objectContaining({ name: 'charge', args: expect.objectContaining({ amountCents: 45_000 }) }),
    ]);
    const stripeRows = (await world.guard.audit.list()).filter((r) => r.vendor === 'stripe');
    const fayCall = toolOutcomes(messages).find(
      (o) => (o.output as { amountCents?: number }).amountCents === 45_000,
    );
    expect(stripeRows.find((r) => r.amount === 450)?.message).toBe(
      `approved by langgraph interrupt (tool call ${fayCall?.toolCallId})`,
    );
    expect(stripeRows.find((r) => r.amount === 20)?.message).toBeNull();
    // The re-run ToolNode ran Gus's call again: replayed, not charged.
    expect((await toolRows()).map((r) => r.decision).sort()).toEqual(['executed', 'executed', 'replayed']);
    expect(toolOutcomes(messages)).toHaveLength(2);
  });
});
