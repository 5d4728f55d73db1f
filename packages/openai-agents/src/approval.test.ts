import { Agent, RunState, tool } from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { BillingWorld, type ChargeInput, chargeCall, chargeOrder } from '@spendguard/testkit/adapters';
import type Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { VendorRequest } from './approval.ts';
import { type GuardToolsOptions, guardTools } from './guard-tools.ts';
import { runStoppedErrorOf } from './run-stopped.ts';
import { chargeParameters } from './testing/billing.ts';
import { drive, MODES, type Mode } from './testing/drive.ts';
import { scriptedAgent } from './testing/scripted-agent.ts';

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

/** The Stripe call the charge tool makes for an input: what the policy's approval rule ($400) is checked against. */
function chargeRequest(input: ChargeInput): VendorRequest {
  return {
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: input.amountCents, currency: input.currency, customer: input.customer },
  };
}

/** The charge tool, with the app's own approval rule when given (`needsApproval`). */
function chargeTool(stripe: Stripe, needsApproval?: (input: ChargeInput) => boolean) {
  const stats = { executions: 0 };
  const charge = tool({
    name: 'charge',
    description: 'Charge a customer for an order. Amounts are in cents.',
    parameters: chargeParameters,
    needsApproval: async (_context, input) =>
      needsApproval?.({ ...input, note: input.note ?? undefined }) ?? false,
    execute: (input) => {
      stats.executions++;
      return chargeOrder(stripe, { ...input, note: input.note ?? undefined });
    },
  });
  return { charge, stats };
}

/** The charge tool through `guardTools` with the approval mapping. */
function guardedCharge(options: Partial<GuardToolsOptions> = {}) {
  const { charge, stats } = chargeTool(world.governedStripe());
  const tools = guardTools([charge], {
    guard: world.guard,
    key: world.rootToken,
    approval: { charge: chargeRequest as (input: never) => VendorRequest },
    ...options,
  });
  return { tools, stats };
}

/** Approve (or reject) the first interruption of a stored state and run on, the SDK's way. */
async function resume(
  mode: Mode,
  agent: Agent,
  stored: string,
  decide: (state: RunState<unknown, Agent>) => void = (s) => s.approve(s.getInterruptions()[0] as never),
) {
  const state = await RunState.fromString(agent, stored);
  decide(state);
  return drive(mode, { agent, input: state });
}

async function stripeRows() {
  return (await world.guard.audit.list()).filter((r) => r.vendor === 'stripe');
}

describe.each(MODES)('approval rules under %s', (mode) => {
  it('a charge above $400 interrupts the run before the tool runs: nothing charged, reserved or audited', async () => {
    const ids = await world.customers('fay');
    const { tools, stats } = guardedCharge({ runId: `run-fay-${mode}` });
    const { agent, scripted } = scriptedAgent([{ calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] }], {
      tools,
    });
    const outcome = await drive(mode, { agent, input: 'Charge Fay $450 for order 9001.' });
    expect(outcome.error).toBeUndefined();
    // The SDK's own interruption: the run stops and waits for the app.
    expect(outcome.interruptions.map((i) => [i.type, i.name, i.agent.name, i.rawItem.type])).toEqual([
      ['tool_approval_item', 'charge', 'billing-agent', 'function_call'],
    ]);
    const [item] = outcome.interruptions;
    expect(JSON.parse(item?.arguments ?? '{}')).toMatchObject({ amountCents: 45_000, orderId: 'ord_9001' });
    expect((item?.rawItem as { callId?: string } | undefined)?.callId).toBe(scripted.callIds[0]);
    if (mode === 'stream') expect(outcome.events).toContain('tool_approval_requested');
    expect(scripted.inputs()).toHaveLength(1);
    // Nothing ran, nothing was charged, reserved or audited.
    expect(stats.executions).toBe(0);
    expect(world.fake.ledger.count('charge')).toBe(0);
    const runKey = await world.guard.keys.derive(world.rootToken, { runId: `run-fay-${mode}` });
    expect((await world.guard.spend(runKey.id)).lifetimeUsd).toBe(0);
    expect(await world.guard.audit.list()).toEqual([]);
  });

  describe('approve, store the state, resume; the approval request is answered twice (a retried request)', () => {
    it('without spendguard (the app’s own needsApproval): charged twice', async () => {
      const ids = await world.customers('fay');
      const { charge, stats } = chargeTool(world.plainStripe(), (input) => input.amountCents > 40_000);
      const { agent } = scriptedAgent([{ calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] }], {
        tools: [charge],
      });
      const first = await drive(mode, { agent, input: 'Charge Fay $450 for order 9001.' });
      const stored = first.result?.state.toString() as string;
      await resume(mode, agent, stored);
      await resume(mode, agent, stored);
      expect(stats.executions).toBe(2);
      expect(world.fake.ledger.count('charge')).toBe(2);
    });

    it('with spendguard: charged once, audited "approved by …"; the second answer replays', async () => {
      const ids = await world.customers('fay');
      const { tools, stats } = guardedCharge({
        approver: ({ toolName, toolCallId, agentName }) =>
          `ops@shop.example (${agentName} ${toolName} ${toolCallId})`,
      });
      const { agent, scripted } = scriptedAgent([{ calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] }], {
        tools,
      });
      const first = await drive(mode, { agent, input: 'Charge Fay $450 for order 9001.' });
      // The state an app stores while it waits for a human (about 6 KB).
      const stored = first.result?.state.toString() as string;
      expect(stored.length).toBeLessThan(20_000);
      const approved = await resume(mode, agent, stored);
      expect(approved.error).toBeUndefined();
      expect(approved.interruptions).toEqual([]);
      const [paid] = world.fake.ledger.list('charge');
      expect(world.chargedUsd()).toBe(450);
      // The model reads the charge's result on its next call.
      expect(scripted.inputs()[1]).toContain(paid?.id);
      const callId = scripted.callIds[0];
      expect((await stripeRows()).map((r) => [r.decision, r.toolCallId, r.message])).toEqual([
        ['executed', callId, `approved by ops@shop.example (billing-agent charge ${callId})`],
      ]);

      const again = await resume(mode, agent, stored);
      expect(again.outputs[0]?.output).toEqual(approved.outputs[0]?.output);
      expect(stats.executions).toBe(1);
      expect(world.fake.ledger.count('charge')).toBe(1);
      const toolRows = (await world.guard.audit.list()).filter((r) => r.vendor === 'tool');
      expect(toolRows.map((r) => r.decision)).toEqual(['executed', 'replayed']);
    });
  });

  it("approved on the result's own state, not stored: runs once, audited with the default approver", async () => {
    const ids = await world.customers('fay');
    const { tools, stats } = guardedCharge();
    const { agent, scripted } = scriptedAgent(
      [{ calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] }, { text: 'Charged Fay $450.' }],
      { tools },
    );
    const first = await drive(mode, { agent, input: 'Charge Fay $450 for order 9001.' });
    const state = first.result?.state as RunState<unknown, Agent>;
    const [item] = first.interruptions;
    expect(item).toBeDefined();
    state.approve(item as never);
    const approved = await drive(mode, { agent, input: state });
    expect(approved.error).toBeUndefined();
    expect(approved.result?.finalOutput).toBe('Charged Fay $450.');
    expect(stats.executions).toBe(1);
    expect(world.chargedUsd()).toBe(450);
    const callId = scripted.callIds[0];
    expect((await stripeRows()).map((r) => [r.decision, r.message])).toEqual([
      ['executed', `approved by openai-agents tool approval ${callId}`],
    ]);
  });

  it('rejected: the tool never runs and the model reads the rejection; nothing charged or audited', async () => {
    const ids = await world.customers('fay');
    const { tools, stats } = guardedCharge();
    const { agent, scripted } = scriptedAgent([{ calls: [chargeCall(ids.fay, 45_000, 'ord_9001')] }], {
      tools,
    });
    const first = await drive(mode, { agent, input: 'Charge Fay $450 for order 9001.' });
    const rejected = await resume(mode, agent, first.result?.state.toString() as string, (state) =>
      state.reject(state.getInterruptions()[0] as never, { message: 'Too much for one order' }),
    );
    expect(rejected.error).toBeUndefined();
    expect(stats.executions).toBe(0);
    expect(world.fake.ledger.count('charge')).toBe(0);
    expect(await world.guard.audit.list()).toEqual([]);
    expect(scripted.inputs()[1]).toContain('Too much for one order');
  });

  it('per call: a $100 charge runs at once while a $450 one of the same turn waits for approval', async () => {
    const ids = await world.customers('gil');
    const { tools, stats } = guardedCharge();
    const { agent } = scriptedAgent(
      [{ calls: [chargeCall(ids.gil, 10_000, 'ord_1'), chargeCall(ids.gil, 45_000, 'ord_2')] }],
      { tools },
    );
    const outcome = await drive(mode, { agent, input: 'Charge Gil for both orders.' });
    expect(outcome.interruptions.map((i) => JSON.parse(i.arguments ?? '{}').orderId)).toEqual(['ord_2']);
    expect(stats.executions).toBe(1);
    expect(world.chargedUsd()).toBe(100);
    expect((await stripeRows())[0]?.message ?? '').not.toContain('approved');
  });
});

describe('approval rules: what the adapter claims', () => {
  it('claims no approval for "always approve": the later call runs into core’s approval refusal', async () => {
    const ids = await world.customers('oli');
    const { tools } = guardedCharge();
    const { agent } = scriptedAgent(
      [{ calls: [chargeCall(ids.oli, 45_000, 'ord_1')] }, { text: 'Waiting.' }],
      {
        tools,
      },
    );
    const first = await drive('run', { agent, input: 'Charge Oli $450.' });
    const outcome = await resume('run', agent, first.result?.state.toString() as string, (state) =>
      state.approve(state.getInterruptions()[0] as never, { alwaysApprove: true }),
    );
    // A sticky approval waves later calls through unseen: the policy's rule is per call.
    expect(outcome.outputs[0]?.output).toMatchObject({ refused: true, code: 'approval_required' });
    expect(world.fake.ledger.count('charge')).toBe(0);
    expect((await stripeRows()).map((r) => r.decision)).toEqual(['needs_approval']);
  });

  it('a call id the model reuses for other arguments after an approval fails the run; nothing is charged', async () => {
    const ids = await world.customers('pia');
    const { tools, stats } = guardedCharge();
    const order = (amountCents: number) => ({
      customer: ids.pia,
      amountCents,
      currency: 'usd',
      orderId: 'ord_1',
    });
    const model = new ScriptedModel([
      [functionCall('charge', order(45_000), { callId: 'call_reused' })],
      [functionCall('charge', order(49_000), { callId: 'call_reused' })],
      [assistantMessage('Charged.')],
    ]);
    const agent = new Agent({ name: 'billing-agent', model, tools });
    const first = await drive('run', { agent, input: 'Charge Pia.' });
    expect(first.interruptions).toHaveLength(1);
    const state = await RunState.fromString(agent, first.result?.state.toString() as string);
    state.approve(state.getInterruptions()[0] as never);
    // The approved $450 runs; then the model sends $490 under the approved call id.
    const outcome = await drive('run', { agent, input: state });
    expect(outcome.error).toMatchObject({ name: 'ModelBehaviorError' });
    expect(world.chargedUsd()).toBe(450);
    expect(stats.executions).toBe(1);
  });

  it('without an approval mapping, core asks: the refusal names its approval, and once approved there the call runs once', async () => {
    const ids = await world.customers('fay');
    const { charge, stats } = chargeTool(world.governedStripe());
    const tools = guardTools([charge], { guard: world.guard, key: world.rootToken });
    const call = chargeCall(ids.fay, 45_000, 'ord_9001');
    const first = scriptedAgent([{ calls: [call] }, { text: 'It needs approval.' }], { tools });
    const asked = await drive('run', { agent: first.agent, input: 'Charge Fay $450.' });
    expect(asked.interruptions).toEqual([]);
    const pending = asked.outputs[0]?.output as { refused: boolean; reason: string };
    expect(pending).toMatchObject({ refused: true, reason: expect.stringContaining('approv') });
    const approvalId = /apr_[0-9a-f]+/.exec(pending.reason)?.[0];
    expect(approvalId).toBeDefined();

    await world.guard.approvals.approve(approvalId as string, { by: 'ops@example.com' });
    const later = scriptedAgent([{ calls: [call] }, { calls: [call] }, { text: 'Charged.' }], { tools });
    await drive('run', { agent: later.agent, input: 'Approved. Go ahead.' });
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(stats.executions).toBe(2); // the refused attempt, then the approved one; the third replays
  });

  it("ORs the tool's own needsApproval with the policy's; a tool without a mapping keeps its own", async () => {
    const ids = await world.customers('rex');
    const { charge, stats } = chargeTool(world.governedStripe(), (input) => input.note === 'confirm first');
    const [mapped] = guardTools([charge], {
      guard: world.guard,
      key: world.rootToken,
      approval: { charge: chargeRequest as (input: never) => VendorRequest },
    });
    const { agent, scripted } = scriptedAgent(
      [
        {
          calls: [
            chargeCall(ids.rex, 100, 'ord_1', { note: 'confirm first' }),
            chargeCall(ids.rex, 200, 'ord_2'),
            chargeCall(ids.rex, 45_000, 'ord_3'),
          ],
        },
      ],
      { tools: [mapped as typeof charge] },
    );
    const outcome = await drive('run', { agent, input: 'Charge Rex.' });
    const asked = outcome.interruptions.map((i) => (i.rawItem as { callId?: string }).callId);
    expect(asked).toEqual([scripted.callIds[0], scripted.callIds[2]]);
    expect(stats.executions).toBe(1); // the $2 charge, at once
    expect(world.chargedUsd()).toBe(2);

    const [unmapped] = guardTools([charge], { guard: world.guard, key: world.rootToken });
    expect(unmapped?.needsApproval).toBe(charge.needsApproval);
  });

  it('asks no approval when the root key is revoked: the call stops the run (key_invalid) instead', async () => {
    const ids = await world.customers('quin');
    await world.guard.keys.revoke(world.rootId);
    const { tools, stats } = guardedCharge();
    const { agent } = scriptedAgent([{ calls: [chargeCall(ids.quin, 45_000, 'ord_1')] }], { tools });
    const outcome = await drive('run', { agent, input: 'Charge Quin $450.' });
    expect(outcome.interruptions).toEqual([]);
    expect(runStoppedErrorOf(outcome.error)?.code).toBe('key_invalid');
    expect(stats.executions).toBe(0);
  });
});
