import { type Agent, type AgentInputItem, MemorySession, tool } from '@openai/agents';
import { createGuard, MemoryStore } from '@spendguard/core';
import { createGovernedStripe } from '@spendguard/core/stripe';
import {
  BillingWorld,
  billingPolicy,
  type ChargeInput,
  chargeCall,
  chargeOrder,
  type Turn,
} from '@spendguard/testkit/adapters';
import type Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { guardTools } from './guard-tools.ts';
import { SDK_DEFAULT_TOOL_ERROR } from './hidden-failure.ts';
import { billingTools, chargeParameters } from './testing/billing.ts';
import { drive, MODES } from './testing/drive.ts';
import { scriptedAgent } from './testing/scripted-agent.ts';

/**
 * The OpenAI Agents SDK's own ways of running a charge twice, each shown doubling it without
 * spendguard and not with it: the calls of one turn all start at once; a failed tool tells the
 * model "Please try again"; a run that rejects stores nothing in its session, so the app's retry
 * starts over; a session resumed from stored history shows the model its past charge; and in a
 * handoff chain every agent can reach the billing tool.
 */

const CREDENTIAL_ENV = 'SPENDGUARD_OPENAI_AGENTS_ROWS_STRIPE_KEY';
const world = new BillingWorld({ credentialEnv: CREDENTIAL_ENV });
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

/** The billing tools, plain (the raw Stripe secret) or through `guardTools` (a governed client). */
function billing(governed: boolean) {
  if (!governed) return billingTools(world.plainStripe());
  const { tools, stats } = billingTools(world.governedStripe());
  return { tools: guardTools(tools, { guard: world.guard, key: world.rootToken }), stats };
}

const column = [
  ['without spendguard', false],
  ['with spendguard', true],
] as const;

describe('F2: the SDK starts every call of a turn at once', () => {
  /** A charge tool that notes how many of its executions overlap. */
  function countingCharge(stripe: Stripe) {
    const seen = { inFlight: 0, most: 0, executions: 0 };
    const charge = tool({
      name: 'charge',
      description: 'Charge a customer for an order.',
      parameters: chargeParameters,
      execute: async (input) => {
        seen.executions++;
        seen.most = Math.max(seen.most, ++seen.inFlight);
        try {
          return await chargeOrder(stripe, { ...input, note: input.note ?? undefined });
        } finally {
          seen.inFlight--;
        }
      },
    });
    return { charge, seen };
  }

  it.each(column)('%s', async (_name, governed) => {
    const ids = await world.customers('bob');
    const { charge, seen } = countingCharge(governed ? world.governedStripe() : world.plainStripe());
    const tools = governed ? guardTools([charge], { guard: world.guard, key: world.rootToken }) : [charge];
    const twice = [chargeCall(ids.bob, 12_000, 'ord_2001'), chargeCall(ids.bob, 12_000, 'ord_2001')];
    const { agent, scripted } = scriptedAgent([{ calls: twice }, { text: 'Charged Bob $120.' }], { tools });
    const outcome = await drive('run', { agent, input: 'Charge Bob $120 for order 2001.' });
    expect(outcome.error).toBeUndefined();
    if (!governed) {
      expect(seen.most).toBe(2); // both executions were under way together
      expect(world.fake.ledger.count('charge')).toBe(2);
      return;
    }
    // The second call waited for the first at its checkpoint and got its result.
    expect(seen).toMatchObject({ most: 1, executions: 1 });
    expect(world.fake.ledger.count('charge')).toBe(1);
    const [a, b] = outcome.outputs;
    expect(a?.toolCallId).not.toBe(b?.toolCallId);
    expect(b?.output).toEqual(a?.output);
    // The replay reached the model as the charge's own result, not as the SDK's error text.
    expect(scripted.inputs()[1]).not.toContain('Please try again');
    const rows = (await world.guard.audit.list()).filter((r) => r.vendor === 'tool');
    expect(rows.map((r) => r.decision).sort()).toEqual(['executed', 'replayed']);
  });
});

describe('F1: the tool fails after its charge, and the model calls it again with a new callId', () => {
  /** The charge tool as an app writes it: charge, then send the receipt (down the first time). */
  function chargeWithReceipt(stripe: Stripe) {
    let receipts = 0;
    return tool({
      name: 'charge',
      description: 'Charge a customer for an order and send the receipt.',
      parameters: chargeParameters,
      execute: async (input) => {
        const paid = await chargeOrder(stripe, { ...input, note: input.note ?? undefined });
        if (++receipts === 1) throw new Error('the receipt service timed out');
        return paid;
      },
    });
  }

  it.each(column)('%s', async (_name, governed) => {
    const ids = await world.customers('ada');
    const charge = chargeWithReceipt(governed ? world.governedStripe() : world.plainStripe());
    const tools = governed ? guardTools([charge], { guard: world.guard, key: world.rootToken }) : [charge];
    const call: Turn = { calls: [chargeCall(ids.ada, 4999, 'ord_1001')] };
    const { agent, scripted } = scriptedAgent([call, call, { text: 'Charged Ada.' }], { tools });
    const outcome = await drive('run', { agent, input: 'Charge Ada $49.99 for order 1001.' });
    expect(outcome.error).toBeUndefined();
    const [first, second] = outcome.outputs;
    if (!governed) {
      // The SDK's default error function asked the model to try again, and it did.
      expect(first?.output).toBe(SDK_DEFAULT_TOOL_ERROR);
      expect(scripted.inputs()[1]).toContain('Please try again');
      expect(world.fake.ledger.count('charge')).toBe(2);
      return;
    }
    // The model read that the call failed and that retrying will not help, never "Please try
    // again". (The SDK's default error function hid the error itself; with `errorFunction: null`
    // the reason carries it.)
    expect(first?.output).toMatchObject({
      refused: true,
      reason: expect.stringContaining('the tool charge failed'),
      advice: expect.stringMatching(/do not retry/i),
    });
    for (const input of scripted.inputs()) expect(input).not.toContain('Please try again');
    // Called again anyway, the tool ran again; its Stripe charge was not made twice.
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(second?.output).toMatchObject({ chargeId: world.fake.ledger.list('charge')[0]?.id });
  });
});

describe.each(MODES)('F1/F4 under %s: the run rejects, the app retries it with the same session', (mode) => {
  it.each(column)('%s', async (_name, governed) => {
    const ids = await world.customers('cy');
    const toolset = billing(governed);
    const session = new MemorySession();
    const charge: Turn = { calls: [chargeCall(ids.cy, 2500, 'ord_3001')] };
    const first = scriptedAgent([charge, { fails: new Error('the model provider is overloaded') }], {
      tools: toolset.tools,
    });
    const failed = await drive(mode, { agent: first.agent, input: 'Charge Cy $25 for order 3001.', session });
    expect((failed.error as Error).message).toContain('overloaded');
    // A rejected run keeps nothing of its turn: not the charge, not its call id. (Streamed, the
    // SDK has already saved the user's message.)
    const kept = await session.getItems();
    expect(kept).toHaveLength(mode === 'run' ? 0 : 1);
    expect(JSON.stringify(kept)).not.toContain(first.scripted.callIds[0]);

    const retry = scriptedAgent([charge, { text: 'Charged Cy $25.' }], { tools: toolset.tools });
    const retried = await drive(mode, {
      agent: retry.agent,
      input: 'Charge Cy $25 for order 3001.',
      session,
    });
    expect(retried.error).toBeUndefined();
    expect(retry.scripted.callIds[0]).not.toBe(first.scripted.callIds[0]);
    if (!governed) {
      expect(world.fake.ledger.count('charge')).toBe(2);
      return;
    }
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(toolset.stats.executions).toBe(1);
    expect(retried.outputs[0]?.output).toEqual(failed.outputs[0]?.output);
  });
});

describe('F4: a session resumed from stored history, the model charges again with a new callId', () => {
  it.each(column)('%s', async (_name, governed) => {
    const ids = await world.customers('dee');
    const charge: Turn = { calls: [chargeCall(ids.dee, 3000, 'ord_4001')] };
    const first = scriptedAgent([charge, { text: 'Charged Dee $30.' }], { tools: billing(governed).tools });
    const session = new MemorySession();
    await drive('run', { agent: first.agent, input: 'Charge Dee $30 for order 4001.', session });
    // The app keeps the conversation in its database…
    const stored = JSON.stringify(await session.getItems());

    // …and a later request, in another process, resumes it with a toolset of its own.
    const resumed = new MemorySession({ initialItems: JSON.parse(stored) as AgentInputItem[] });
    const later = scriptedAgent([charge, { text: 'Done.' }], { tools: billing(governed).tools });
    const outcome = await drive('run', {
      agent: later.agent,
      input: 'Did that go through? If unsure, charge again.',
      session: resumed,
    });
    expect(later.scripted.inputs()[0]).toContain(first.scripted.callIds[0]); // the model saw the first charge
    if (!governed) {
      expect(world.fake.ledger.count('charge')).toBe(2);
      return;
    }
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(outcome.outputs[0]?.output).toMatchObject({ chargeId: world.fake.ledger.list('charge')[0]?.id });
    const rows = (await world.guard.audit.list()).filter((r) => r.vendor === 'tool');
    expect(rows.map((r) => r.decision)).toEqual(['executed', 'replayed']);
    expect(rows[0]?.runId).not.toBe(rows[1]?.runId); // two requests, two runs of one root key
  });
});

describe('F6: a handoff where the triage agent tries to bill before handing off', () => {
  const TRIAGE = 'triage-agent';

  /** A guard whose policy has two roles: billing may charge, triage may only read customers. */
  async function twoRoles() {
    const document = billingPolicy(CREDENTIAL_ENV);
    const guard = createGuard({
      policies: {
        ...document,
        policies: { ...document.policies, [TRIAGE]: { stripe: { allow: ['GET /v1/customers/*'] } } },
      },
      store: new MemoryStore(),
    });
    const triageRoot = await guard.keys.issueRoot({ policy: TRIAGE, name: 'triage' });
    const billingRoot = await guard.keys.issueRoot({ policy: 'billing-agent', name: 'billing' });
    const stripe = createGovernedStripe({
      guard,
      config: { host: '127.0.0.1', port: world.server.port, protocol: 'http', maxNetworkRetries: 0 },
    });
    return { guard, stripe, triageRoot, billingRoot };
  }

  it.each(column)('%s', async (_name, governed) => {
    const ids = await world.customers('ann');
    const roles = governed ? await twoRoles() : undefined;
    const stripe = roles?.stripe ?? world.plainStripe();
    // Each agent's tools hold their own role's key: the same charge tool code, two keys.
    const toolsOf = (key: string | undefined) => {
      const { tools } = billingTools(stripe);
      return roles && key ? guardTools(tools, { guard: roles.guard, key }) : tools;
    };
    const order: ChargeInput = {
      customer: ids.ann as string,
      amountCents: 3000,
      currency: 'usd',
      orderId: 'ord_6001',
    };
    const billingAgent = scriptedAgent(
      [{ calls: [{ tool: 'charge', input: order }] }, { text: 'Billed Ann.' }],
      {
        name: 'billing',
        tools: toolsOf(roles?.billingRoot.token),
      },
    );
    const triage = scriptedAgent(
      [
        {
          calls: [
            { tool: 'charge', input: order },
            { tool: 'transfer_to_billing', input: {} },
          ],
        },
      ],
      { name: 'triage', tools: toolsOf(roles?.triageRoot.token), handoffs: [billingAgent.agent as Agent] },
    );
    const outcome = await drive('run', {
      agent: triage.agent,
      input: 'Bill Ann $30 for order 6001.',
      context: { runId: 'conversation-6001' },
    });
    expect(outcome.error).toBeUndefined();
    expect(outcome.result?.lastAgent?.name).toBe('billing');
    if (!roles) {
      expect(world.fake.ledger.count('charge')).toBe(2); // triage billed too
      return;
    }
    expect(world.fake.ledger.count('charge')).toBe(1);
    const [triaged, billed] = outcome.outputs;
    expect(triaged?.output).toMatchObject({
      refused: true,
      advice: expect.stringMatching(/retrying will not help/i),
    });
    expect(billed?.output).toMatchObject({ chargeId: world.fake.ledger.list('charge')[0]?.id });
    // The billing agent's model reads the triage agent's refusal in the history, never "Please try again".
    const afterHandoff = billingAgent.scripted.inputs()[0];
    expect(afterHandoff).toMatch(/retrying will not help/i);
    expect(afterHandoff).not.toContain('Please try again');
    // One run, two run keys: each agent's calls under its own role's key, attributed to it.
    const rows = (await roles.guard.audit.list()).filter((r) => r.vendor === 'stripe');
    expect(rows.map((r) => [r.agentId, r.decision, r.runId, r.rootKeyId])).toEqual([
      ['triage', 'denied', 'conversation-6001', roles.triageRoot.id],
      ['billing', 'executed', 'conversation-6001', roles.billingRoot.id],
    ]);
    await roles.guard.close();
  });
});
