import { randomUUID } from 'node:crypto';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { Command } from '@langchain/langgraph';
import { BillingWorld, type ChargeInput, chargeCall } from '@spendguard/testkit/adapters';
import { toolRetryMiddleware } from 'langchain';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApprovalInterrupt, VendorRequest } from './approval-request.ts';
import { guardTools } from './guard-tools.ts';
import { spendguardMiddleware } from './middleware.ts';
import { billingTools } from './testing/billing.ts';
import { parsed, threadMessages, toolOutcomes } from './testing/drive.ts';
import { type BillingGraph, billingAgent, toolNodeGraph } from './testing/graphs.ts';
import { scriptedModel } from './testing/scripted-model.ts';

// The policy's approval rule (`approval: { above: 400 }`) as LangGraph's interrupt(): asked before
// the tool runs, answered with Command({ resume: { decisions } }), one interrupt per task.

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

/** The Stripe call the charge tool makes for an input. */
function chargeRequest(input: ChargeInput): VendorRequest {
  return {
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: input.amountCents, currency: input.currency, customer: input.customer },
  };
}

type Interrupted = { __interrupt__?: { id: string; value: ApprovalInterrupt }[] };

async function start(graph: BillingGraph, prompt: string) {
  const config = { configurable: { thread_id: `approval-${randomUUID()}` } };
  const first = (await graph.invoke({ messages: [new HumanMessage(prompt)] }, config)) as Interrupted;
  return { config, first };
}

describe('createAgent + spendguardMiddleware: one call, one interrupt', () => {
  function agent(approver?: (a: { toolCallId: string }) => string) {
    const { tools, stats } = billingTools(world.governedStripe());
    const sg = spendguardMiddleware({
      guard: world.guard,
      key: world.rootToken,
      tools,
      approval: { charge: chargeRequest },
      ...(approver && { approver }),
    });
    return { tools, stats, sg };
  }

  it('asks before the tool runs; approved, it runs once, audited as approved; the sibling is not re-run', async () => {
    const ids = await world.customers('fay', 'gus');
    const { tools, stats, sg } = agent(({ toolCallId }) => `ops@example.com (${toolCallId})`);
    const model = scriptedModel([
      { calls: [chargeCall(ids.gus, 2000, 'ord_1'), chargeCall(ids.fay, 45_000, 'ord_2')] },
      { text: 'Charged both.' },
    ]);
    const graph = billingAgent(model, tools, { middleware: [sg] });
    const { config, first } = await start(graph, 'Charge Gus $20 and Fay $450.');
    // The humanInTheLoopMiddleware shape, so an approval UI renders it.
    expect(first.__interrupt__).toEqual([
      {
        id: expect.any(String),
        value: {
          actionRequests: [
            {
              name: 'charge',
              args: { customer: ids.fay, amountCents: 45_000, currency: 'usd', orderId: 'ord_2' },
              description: "spendguard: the policy wants a human's approval for stripe POST /v1/charges",
              toolCallId: expect.stringMatching(/^call_/),
            },
          ],
          reviewConfigs: [{ actionName: 'charge', allowedDecisions: ['approve', 'reject'] }],
        },
      },
    ]);
    // Gus's call (no approval needed) already ran; Fay's did not, nothing reserved for it.
    expect(world.fake.ledger.list('charge').map((c) => c.amount)).toEqual([2000]);
    expect((await world.guard.audit.list()).map((r) => r.amount)).toEqual([20, null]);

    await graph.invoke(new Command({ resume: { decisions: [{ type: 'approve' }] } }), config);
    expect(world.fake.ledger.list('charge').map((c) => c.amount)).toEqual([2000, 45_000]);
    expect(stats.executions).toBe(2);
    const rows = await world.guard.audit.list();
    const fayCall = first.__interrupt__?.[0]?.value.actionRequests[0]?.toolCallId;
    expect(rows.filter((r) => r.vendor === 'stripe').map((r) => r.message)).toEqual([
      null,
      `approved by ops@example.com (${fayCall})`,
    ]);
    // No row for Gus's call on resume: createAgent runs each call as its own task.
    expect(rows.filter((r) => r.vendor === 'tool').map((r) => r.decision)).toEqual(['executed', 'executed']);
    expect(toolOutcomes(await threadMessages(graph, config.configurable.thread_id))).toHaveLength(2);
  });

  it('rejected, nothing runs and the model reads why; an answer that does not fit asks again', async () => {
    const ids = await world.customers('fay');
    const { tools, stats, sg } = agent();
    const model = scriptedModel([
      { calls: [chargeCall(ids.fay, 45_000, 'ord_2')] },
      { text: 'Not charged.' },
    ]);
    const graph = billingAgent(model, tools, { middleware: [sg] });
    const { config, first } = await start(graph, 'Charge Fay $450.');
    // An edit (not allowed here) or a wrong count runs nothing: the same question comes back.
    const again = (await graph.invoke(
      new Command({ resume: { decisions: [{ type: 'edit', editedAction: { name: 'charge', args: {} } }] } }),
      config,
    )) as Interrupted;
    expect(again.__interrupt__?.[0]?.value).toEqual(first.__interrupt__?.[0]?.value);
    expect(world.fake.ledger.count('charge')).toBe(0);

    await graph.invoke(
      new Command({ resume: { decisions: [{ type: 'reject', message: 'Too much.' }] } }),
      config,
    );
    expect(stats.executions).toBe(0);
    expect(world.fake.ledger.count('charge')).toBe(0);
    expect(await world.guard.audit.list()).toEqual([]);
    const messages = await threadMessages(graph, config.configurable.thread_id);
    const answer = messages.find((m) => ToolMessage.isInstance(m)) as ToolMessage;
    expect(answer.status).toBe('error');
    expect(parsed(answer.content)).toMatchObject({
      refused: true,
      code: 'approval_denied',
      reason: 'Too much.',
    });
    expect(model.inputs()[1]).toContain('Too much.');
  });
});

describe('createAgent: spendguardMiddleware listed before toolRetryMiddleware', () => {
  it('asks and runs the approved call once; the retry never sees the interrupt', async () => {
    const ids = await world.customers('fay');
    const { tools, stats } = billingTools(world.governedStripe());
    const sg = spendguardMiddleware({
      guard: world.guard,
      key: world.rootToken,
      tools,
      approval: { charge: chargeRequest },
    });
    const retry = toolRetryMiddleware({ maxRetries: 2, initialDelayMs: 0, jitter: false });
    const model = scriptedModel([{ calls: [chargeCall(ids.fay, 45_000, 'ord_2')] }, { text: 'Charged.' }]);
    const graph = billingAgent(model, tools, { middleware: [sg, retry] });
    const { config, first } = await start(graph, 'Charge Fay $450.');
    expect(first.__interrupt__?.[0]?.value.actionRequests).toHaveLength(1);
    await graph.invoke(new Command({ resume: { decisions: [{ type: 'approve' }] } }), config);
    expect(stats.executions).toBe(1);
    expect(world.fake.ledger.list('charge').map((c) => c.amount)).toEqual([45_000]);
  });
});

describe('ToolNode + guardTools: the calls of one task share one interrupt', () => {
  it('asks for both calls in the model’s order; each takes its own decision', async () => {
    const ids = await world.customers('fay', 'hal', 'gus');
    const { tools, stats } = billingTools(world.governedStripe());
    const guarded = guardTools(tools, {
      guard: world.guard,
      key: world.rootToken,
      approval: { charge: chargeRequest },
    });
    const model = scriptedModel([
      {
        calls: [
          chargeCall(ids.fay, 45_000, 'ord_1'),
          chargeCall(ids.gus, 1000, 'ord_2'),
          chargeCall(ids.hal, 48_000, 'ord_3'),
        ],
      },
      { text: 'Done.' },
    ]);
    const graph = toolNodeGraph(model, guarded);
    const { config, first } = await start(graph, 'Charge them.');
    expect(first.__interrupt__).toHaveLength(1);
    const asked = first.__interrupt__?.[0]?.value.actionRequests ?? [];
    expect(asked.map((a) => a.args.amountCents)).toEqual([45_000, 48_000]);

    await graph.invoke(
      new Command({ resume: { decisions: [{ type: 'reject', message: 'Not Fay.' }, { type: 'approve' }] } }),
      config,
    );
    expect(
      world.fake.ledger
        .list('charge')
        .map((c) => c.amount)
        .sort(),
    ).toEqual([1000, 48_000]);
    expect(stats.executions).toBe(2);
    const outcomes = toolOutcomes(await threadMessages(graph, config.configurable.thread_id));
    expect(
      outcomes.map((o) => (o.output as { code?: string; amountCents?: number }).code ?? 'charged'),
    ).toEqual(['approval_denied', 'charged', 'charged']);
  });
});
