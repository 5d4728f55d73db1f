import { Agent } from '@mastra/core/agent';
import { noopLogger } from '@mastra/core/logger';
import { Mastra } from '@mastra/core/mastra';
import { InMemoryStore } from '@mastra/core/storage';
import { BillingWorld, chargeCall, type Turn } from '@spendguard/testkit/adapters';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ApprovalFunction, approvalAnswerOf, type VendorRequest } from './approval.ts';
import { type GuardToolsOptions, guardTools } from './guard-tools.ts';
import { type BillingTools, billingTools, type ChargeInput } from './testing/billing.ts';
import { answerApproval, drive, MODES, type Mode } from './testing/drive.ts';
import { asAgentModel, promptOf, scriptedModel } from './testing/scripted-model.ts';
import { billOrderWorkflow, workflowMastra } from './testing/workflows.ts';

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

/** The Stripe call the charge tool makes for an input: what the policy's approval rule is checked against. */
const chargeRequest: ApprovalFunction<ChargeInput> = (input): VendorRequest => ({
  vendor: 'stripe',
  method: 'POST',
  path: '/v1/charges',
  params: { amount: input.amountCents, currency: input.currency, customer: input.customer },
});

type Options = Partial<GuardToolsOptions<BillingTools>>;

function guarded(options: Options = {}) {
  const { tools, stats } = billingTools(world.governedStripe());
  const wrapped = guardTools(tools, {
    guard: world.guard,
    key: world.rootToken,
    approval: { charge: chargeRequest },
    ...options,
  });
  return { tools: wrapped, stats };
}

/** An agent registered in a Mastra instance with in-memory storage, as approvals need. */
function billingAgent(tools: BillingTools, script: Turn[]) {
  const model = scriptedModel(script);
  const agent = new Agent({
    id: 'billing-agent',
    name: 'billing-agent',
    instructions: 'Bill customers.',
    model: asAgentModel(model),
    tools,
  });
  const mastra = new Mastra({ agents: { agent }, storage: new InMemoryStore(), logger: noopLogger });
  return { agent: mastra.getAgent('agent'), model };
}

describe.each(MODES)('agent approvals through %s', (mode: Mode) => {
  it('without spendguard a $450 charge runs at once: nobody is asked', async () => {
    const ids = await world.customers('fay');
    const { tools } = billingTools(world.plainStripe());
    const { agent } = billingAgent(tools, [{ calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] }]);
    const run = await drive(mode, agent, 'Charge Fay $450 for order 9001.');
    expect(run.approvals).toEqual([]);
    expect(world.chargedUsd()).toBe(450);
  });

  it('a $450 charge asks Mastra for approval (tool-call-approval): nothing runs, reserved or audited', async () => {
    const ids = await world.customers('fay');
    const billing = guarded();
    const { agent, model } = billingAgent(billing.tools, [
      { calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] },
    ]);
    const run = await drive(mode, agent, 'Charge Fay $450 for order 9001.');
    expect(run.error).toBeUndefined();
    expect(run.finishReason).toBe('suspended');
    expect(run.approvals).toEqual([
      {
        runId: run.runId,
        toolCallId: run.calls[0]?.toolCallId,
        toolName: 'charge',
        args: expect.objectContaining({ amountCents: 45_000, orderId: 'ord_9001' }),
      },
    ]);
    expect(model.served).toBe(1);
    expect(billing.stats.executions).toBe(0);
    expect(world.fake.ledger.count('charge')).toBe(0);
    expect(await world.guard.audit.list()).toEqual([]);
    // The run's listing in storage shows it waiting, as an approval UI would find it.
    const { runs } = await agent.listSuspendedRuns();
    expect(runs.map((r) => [r.runId, r.toolCalls.map((c) => c.toolCallId)])).toEqual([
      [run.runId, [run.calls[0]?.toolCallId]],
    ]);
  });

  it('approveToolCall: the call runs once, audited as approved; the model reads the charge', async () => {
    const ids = await world.customers('fay');
    const billing = guarded();
    const { agent, model } = billingAgent(billing.tools, [
      { calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] },
      { text: 'Charged Fay $450.' },
    ]);
    const asked = await drive(mode, agent, 'Charge Fay $450 for order 9001.');
    const [request] = asked.approvals;
    const approved = await answerApproval(mode, agent, {
      runId: request?.runId as string,
      toolCallId: request?.toolCallId as string,
      approved: true,
    });
    expect(approved.error).toBeUndefined();
    expect(billing.stats.executions).toBe(1);
    expect(world.chargedUsd()).toBe(450);
    const [paid] = world.fake.ledger.list('charge');
    expect(approved.calls.find((c) => c.toolCallId === request?.toolCallId)?.output).toMatchObject({
      chargeId: paid?.id,
    });
    expect(promptOf(model, 1)).toContain(paid?.id);
    const rows = await world.guard.audit.list();
    expect(rows.map((r) => [r.vendor, r.decision, r.toolCallId, r.runId])).toEqual([
      ['stripe', 'executed', request?.toolCallId, request?.runId],
      ['tool', 'executed', request?.toolCallId, request?.runId],
    ]);
    expect(rows[0]?.message).toBe(`approved by mastra tool approval ${request?.toolCallId}`);

    // The same approval sent again (a double click, a retried request) charges nothing more.
    await answerApproval(mode, agent, {
      runId: request?.runId as string,
      toolCallId: request?.toolCallId as string,
      approved: true,
    });
    expect(world.fake.ledger.count('charge')).toBe(1);
  });

  it('declineToolCall: nothing runs; the model reads the reason', async () => {
    const ids = await world.customers('fay');
    const billing = guarded();
    const { agent, model } = billingAgent(billing.tools, [
      { calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] },
      { text: 'Fay was not charged.' },
    ]);
    const asked = await drive(mode, agent, 'Charge Fay $450 for order 9001.');
    const [request] = asked.approvals;
    const declined = await answerApproval(mode, agent, {
      runId: request?.runId as string,
      toolCallId: request?.toolCallId as string,
      approved: false,
      reason: 'Too much for one order',
    });
    expect(declined.error).toBeUndefined();
    expect(declined.calls.find((c) => c.toolCallId === request?.toolCallId)?.denied).toBe(
      'Too much for one order',
    );
    expect(billing.stats.executions).toBe(0);
    expect(world.fake.ledger.count('charge')).toBe(0);
    expect(await world.guard.audit.list()).toEqual([]);
    // What the model is sent next: the call, and the reason as its result.
    const prompt = promptOf(model, 1);
    expect(prompt).toContain(request?.toolCallId);
    expect(prompt).toContain('Too much for one order');
  });

  it('a charge below the threshold needs no approval and runs at once', async () => {
    const ids = await world.customers('gil');
    const billing = guarded();
    const { agent } = billingAgent(billing.tools, [
      { calls: [chargeCall(ids.gil, 39_900, 'ord_9101')] },
      { text: 'Charged Gil.' },
    ]);
    const run = await drive(mode, agent, 'Charge Gil $399.');
    expect(run.approvals).toEqual([]);
    expect(run.calls[0]?.output).toMatchObject({ chargeId: expect.stringMatching(/^ch_/) });
    expect(world.chargedUsd()).toBe(399);
    const stripeRow = (await world.guard.audit.list()).find((r) => r.vendor === 'stripe');
    expect(stripeRow?.message ?? '').not.toContain('approved');
  });
});

describe('agent approvals: what the wrapper claims', () => {
  it('`approver` names the human on the audit row', async () => {
    const ids = await world.customers('ned');
    const seen: unknown[] = [];
    const billing = guarded({
      approver: (a) => {
        seen.push([a.via, a.toolName, a.toolCallId, a.runId]);
        return `ana@shop.example (${a.toolCallId})`;
      },
    });
    const { agent } = billingAgent(billing.tools, [{ calls: [chargeCall(ids.ned, 45_000, 'ord_1')] }]);
    const asked = await drive('generate', agent, 'Charge Ned $450.');
    const [request] = asked.approvals;
    await answerApproval('generate', agent, {
      runId: request?.runId as string,
      toolCallId: request?.toolCallId as string,
      approved: true,
    });
    expect(seen).toEqual([['agent', 'charge', request?.toolCallId, request?.runId]]);
    const stripeRow = (await world.guard.audit.list()).find((r) => r.vendor === 'stripe');
    expect(stripeRow?.message).toBe(`approved by ana@shop.example (${request?.toolCallId})`);
  });

  it('claims no approval Mastra did not ask for: a call let through without asking is refused by core', async () => {
    const ids = await world.customers('oli');
    const billing = guarded();
    // The app overrides the gate: Mastra runs the call without a human.
    const tools = { charge: Object.assign(billing.tools.charge, { requireApproval: false }) };
    const { agent } = billingAgent(tools, [
      { calls: [chargeCall(ids.oli, 45_000, 'ord_1')] },
      { text: 'ok' },
    ]);
    const run = await drive('generate', agent, 'Charge Oli $450.');
    expect(run.approvals).toEqual([]);
    expect(run.calls[0]?.output).toMatchObject({ refused: true, code: 'approval_required' });
    expect(world.fake.ledger.count('charge')).toBe(0);
  });

  it("OR-s the tool's own requireApproval with the policy's; an unmapped tool keeps its own", async () => {
    const ids = await world.customers('pia');
    const { tools, stats } = billingTools(world.governedStripe());
    const own = (input: { note?: string | undefined }) => input.note === 'confirm with the customer';
    tools.charge.requireApproval = own as never;
    const wrapped = guardTools(tools, {
      guard: world.guard,
      key: world.rootToken,
      approval: { charge: chargeRequest },
    });
    const { agent } = billingAgent(wrapped, [
      { calls: [chargeCall(ids.pia, 100, 'ord_1', { note: 'confirm with the customer' })] },
      { calls: [chargeCall(ids.pia, 200, 'ord_2')] },
      { text: 'Charged $2.' },
      { calls: [chargeCall(ids.pia, 45_000, 'ord_3')] },
    ]);
    const asksOwn = await drive('generate', agent, 'go');
    expect(asksOwn.approvals).toHaveLength(1);
    const cheap = await drive('generate', agent, 'go');
    expect(cheap.approvals).toEqual([]);
    const policy = await drive('generate', agent, 'go');
    expect(policy.approvals).toHaveLength(1);
    expect(stats.executions).toBe(1); // the $2 charge, at once
    const unmapped = guardTools(billingTools(world.governedStripe()).tools, {
      guard: world.guard,
      key: world.rootToken,
    });
    expect(unmapped.charge.requireApproval).toBe(false);
  });

  it('without an `approval` mapping core asks, and the same call runs once when approved there', async () => {
    const ids = await world.customers('fay');
    const billing = guarded({ approval: {} });
    const { agent } = billingAgent(billing.tools, [
      { calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] },
      { text: 'It needs approval.' },
      { calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] },
      { text: 'Charged.' },
    ]);
    const first = await drive('generate', agent, 'Charge Fay $450 for order 9001.');
    expect(first.approvals).toEqual([]);
    const pending = first.calls[0]?.output as { refused: boolean; reason: string; approvalId: string };
    expect(pending).toMatchObject({ refused: true, code: 'approval_required' });
    await world.guard.approvals.approve(pending.approvalId, { by: 'ops@example.com' });
    await drive('generate', agent, 'Approved. Go ahead.');
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(world.chargedUsd()).toBe(450);
  });
});

describe('workflow approvals: suspend() and run.resume()', () => {
  const order = (customer: string) => ({
    customer,
    amountCents: 45_000,
    currency: 'usd',
    orderId: 'ord_7001',
  });

  it('a $450 step suspends with the reason; resume({ approved: true }) charges once, audited as approved', async () => {
    const ids = await world.customers('hal');
    const billing = guarded();
    const mastra = workflowMastra({ billOrder: billOrderWorkflow(billing.tools.charge) });
    const run = await mastra.getWorkflow('billOrder').createRun();
    const suspended = await run.start({ inputData: order(ids.hal as string) });
    expect(suspended.status).toBe('suspended');
    expect(suspended.status === 'suspended' && suspended.suspendPayload).toEqual({
      charge: {
        reason: "spendguard: the policy wants a human's approval for stripe POST /v1/charges",
        toolName: 'charge',
        args: expect.objectContaining({ amountCents: 45_000 }),
      },
    });
    expect(billing.stats.executions).toBe(0);
    expect(await world.guard.audit.list()).toEqual([]);

    const done = await run.resume({ step: 'charge', resumeData: { approved: true } });
    expect(done.status).toBe('success');
    expect(world.chargedUsd()).toBe(450);
    const [paid] = world.fake.ledger.list('charge');
    expect(done.status === 'success' && done.result).toMatchObject({ chargeId: paid?.id });
    const rows = await world.guard.audit.list();
    expect(rows.map((r) => [r.vendor, r.decision, r.runId])).toEqual([
      ['stripe', 'executed', run.runId],
      ['tool', 'executed', run.runId],
    ]);
    expect(rows[0]?.message).toBe(`approved by mastra workflow resume ${run.runId}`);
    expect(billing.stats.executions).toBe(1);
  });

  it('resume({ approved: false }) ends the run as a tripwire; nothing charged or audited', async () => {
    const ids = await world.customers('hal');
    const billing = guarded();
    const mastra = workflowMastra({ billOrder: billOrderWorkflow(billing.tools.charge) });
    const run = await mastra.getWorkflow('billOrder').createRun();
    await run.start({ inputData: order(ids.hal as string) });
    const declined = await run.resume({
      step: 'charge',
      resumeData: { approved: false, reason: 'not today' },
    });
    expect(declined.status).toBe('tripwire');
    expect(declined.status === 'tripwire' && declined.tripwire).toMatchObject({
      processorId: 'spendguard',
      reason: 'spendguard refused charge: the approver declined it: not today',
      metadata: { code: 'approval_declined', toolName: 'charge', runId: run.runId },
    });
    expect(billing.stats.executions).toBe(0);
    expect(world.fake.ledger.count('charge')).toBe(0);
    expect(await world.guard.audit.list()).toEqual([]);
  });

  it('below the threshold the step runs without suspending', async () => {
    const ids = await world.customers('hal');
    const billing = guarded();
    const mastra = workflowMastra({ billOrder: billOrderWorkflow(billing.tools.charge) });
    const run = await mastra.getWorkflow('billOrder').createRun();
    const done = await run.start({ inputData: { ...order(ids.hal as string), amountCents: 10_000 } });
    expect(done.status).toBe('success');
    expect(world.chargedUsd()).toBe(100);
  });
});

describe('approvalAnswerOf', () => {
  it('takes only a boolean `approved` as an answer', () => {
    expect(approvalAnswerOf({ approved: true })).toEqual({ approved: true });
    expect(approvalAnswerOf({ approved: false, reason: 'no' })).toEqual({ approved: false, reason: 'no' });
    for (const notAnAnswer of [undefined, null, 'yes', [true], { approved: 'true' }, { approved: 1 }, {}]) {
      expect(approvalAnswerOf(notAnAnswer)).toBeUndefined();
    }
  });
});
