import { type Agent, setTraceProcessors, setTracingDisabled, tool, webSearchTool } from '@openai/agents';
import { type AuditRow, RunStoppedError } from '@spendguard/core';
import {
  BILLING_AGENT,
  BillingWorld,
  chargeCall,
  chargeOrder,
  describeAdapterBehaviour,
  type Script,
  type Turn,
} from '@spendguard/testkit/adapters';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { z } from 'zod';
import { type GuardToolsOptions, guardTool, guardTools, isGuardedTool } from './guard-tools.ts';
import { runStoppedErrorOf } from './run-stopped.ts';
import { billingTools, type ChargeTool, chargeParameters } from './testing/billing.ts';
import { drive, MODES } from './testing/drive.ts';
import { scriptedAgent } from './testing/scripted-agent.ts';
import { openAiAgentsSurface } from './testing/surface.ts';

// The adapter contract's rows F1–F4, F6–F8, through run() and run({ stream: true }).
for (const mode of MODES) describeAdapterBehaviour(`openai-agents/${mode}`, openAiAgentsSurface(mode));

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

type Billing = ReturnType<typeof billingTools>;

/** The billing tools through `guardTools`, their Stripe client governed by the run binding. */
function guarded(options: Partial<GuardToolsOptions> = {}): Billing {
  const { tools, stats } = billingTools(world.governedStripe());
  return { tools: guardTools(tools, { guard: world.guard, key: world.rootToken, ...options }), stats };
}

/** One awaited run of the billing agent (or `name`) with these tools, its model playing `script`. */
async function runAgent(
  tools: Agent['tools'],
  script: Script,
  extra: { context?: unknown; name?: string } = {},
) {
  const { agent, scripted } = scriptedAgent(script, { tools, ...(extra.name && { name: extra.name }) });
  const outcome = await drive('run', {
    agent,
    input: 'Bill the order.',
    ...(extra.context !== undefined && { context: extra.context }),
  });
  return { ...outcome, scripted };
}

async function toolRows(): Promise<AuditRow[]> {
  return (await world.guard.audit.list()).filter((r) => r.vendor === 'tool');
}

describe('guardTools: the tool the SDK sees', () => {
  it('keeps name, description, parameters and settings; wraps invoke; leaves other tools as they are', () => {
    const charge = billingTools(world.plainStripe()).tools[0] as ChargeTool;
    const search = webSearchTool();
    const [wrapped, other] = guardTools([charge, search], { guard: world.guard, key: world.rootToken });
    expect(other).toBe(search);
    for (const field of [
      'type',
      'name',
      'description',
      'parameters',
      'strict',
      'isEnabled',
      'needsApproval',
    ]) {
      expect(wrapped?.[field as keyof typeof wrapped], field).toBe(charge?.[field as keyof typeof charge]);
    }
    expect(wrapped?.invoke).not.toBe(charge?.invoke);
    // One guardrail more: it notes which agent made the call, and always allows.
    expect(wrapped?.inputGuardrails?.map((g) => g.name)).toEqual(['spendguard: calling agent']);
    expect(isGuardedTool(wrapped)).toBe(true);
    expect(isGuardedTool(charge)).toBe(false);
    expect(isGuardedTool({ ...wrapped })).toBe(false); // the brand is not enumerable
  });

  it('guarding a guarded tool wraps the original with the new options: one checkpoint, the new key', async () => {
    const ids = await world.customers('ada');
    const other = await world.guard.keys.issueRoot({ policy: BILLING_AGENT, name: 'other-role' });
    const once = guarded();
    const twice = guardTools(once.tools, { guard: world.guard, key: other.token });
    const played = await runAgent(twice, [{ calls: [chargeCall(ids.ada, 700, 'ord_1')] }]);
    expect(played.outputs[0]?.output).toMatchObject({ chargeId: expect.stringMatching(/^ch_/) });
    const rows = await toolRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.rootKeyId).toBe(other.id);
  });

  it('works as the tools of an agent used as a tool: the nested run shares the run context', async () => {
    const ids = await world.customers('bea');
    const billing = guarded();
    const charge = chargeCall(ids.bea, 1200, 'ord_7');
    const { agent: biller } = scriptedAgent(
      [{ calls: [charge] }, { text: 'Charged.' }, { calls: [charge] }],
      {
        tools: billing.tools,
      },
    );
    const { agent: orchestrator } = scriptedAgent(
      [
        { calls: [{ tool: 'bill', input: { input: 'Charge Bea $12 for order 7.' } }] },
        // The orchestrator asks again: the nested agent charges the same order again.
        { calls: [{ tool: 'bill', input: { input: 'Did it go through? Charge again if unsure.' } }] },
        { text: 'Done.' },
      ],
      {
        name: 'orchestrator',
        tools: [biller.asTool({ toolName: 'bill', toolDescription: 'Bill an order' })],
      },
    );
    const outcome = await drive('run', {
      agent: orchestrator,
      input: 'Bill Bea.',
      context: { runId: 'order-7' },
    });
    expect(outcome.error).toBeUndefined();
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(billing.stats.executions).toBe(1);
    expect((await toolRows()).map((r) => [r.decision, r.runId, r.agentId])).toEqual([
      ['executed', 'order-7', BILLING_AGENT],
      ['replayed', 'order-7', BILLING_AGENT],
    ]);
  });
});

describe('guardTools: mapping the SDK in', () => {
  it('takes the run id from the run context, else the options, else one generated per guardTools call', async () => {
    const ids = await world.customers('gus');
    const call = (orderId: string): Script => [{ calls: [chargeCall(ids.gus, 100, orderId)] }];
    const shared = guarded();
    await runAgent(shared.tools, call('o1'));
    await runAgent(shared.tools, call('o2'));
    await runAgent(guarded().tools, call('o3'));
    const named = guarded({ runId: 'session-42' });
    await runAgent(named.tools, call('o4'));
    await runAgent(named.tools, call('o5'), { context: { runId: 'request-7', locale: 'de' } });
    const rows = await toolRows();
    const runs = rows.map((r) => r.runId);
    expect(runs[0]).toBe(runs[1]); // one guardTools call, one run
    expect(runs[0]).toMatch(/^openai-agents-/);
    expect(runs[2]).not.toBe(runs[0]);
    expect(runs.slice(3)).toEqual(['session-42', 'request-7']);
    // Each call ran under its run's own key, derived from the root key.
    const request7 = await world.guard.keys.derive(world.rootToken, { runId: 'request-7' });
    expect(rows[4]?.keyId).toBe(request7.id);
    expect(new Set(rows.map((r) => r.keyId)).size).toBe(4);
  });

  it("audit rows carry the model's call id and the name of the agent that made the call", async () => {
    const ids = await world.customers('cy');
    const billing = guarded();
    const played = await runAgent(billing.tools, [{ calls: [chargeCall(ids.cy, 300, 'ord_3')] }], {
      name: 'Billing Agent (EU)',
    });
    const [callId] = played.scripted.callIds;
    const rows = await world.guard.audit.list();
    expect(rows.map((r) => [r.vendor, r.toolCallId, r.agentId])).toEqual([
      ['stripe', callId, 'Billing Agent (EU)'],
      ['tool', callId, 'Billing Agent (EU)'],
    ]);
    // `agentId` names the agent instead.
    const labelled = guarded({ agentId: 'billing-agent' });
    await runAgent(labelled.tools, [{ calls: [chargeCall(ids.cy, 300, 'ord_4')] }], { name: 'Other' });
    expect((await toolRows()).at(-1)?.agentId).toBe('billing-agent');
  });

  it('audit rows carry the trace id and group id when tracing is on, and none when it is off', async () => {
    // Tracing on with no processor: the SDK keeps its trace ids and exports nothing. (The SDK
    // turns tracing off by default when NODE_ENV is `test`, as under vitest.)
    setTraceProcessors([]);
    setTracingDisabled(false);
    onTestFinished(() => setTracingDisabled(true));
    const ids = await world.customers('dot');
    const billing = guarded();
    const { agent } = scriptedAgent([{ calls: [chargeCall(ids.dot, 400, 'ord_5')] }], {
      tools: billing.tools,
    });
    const traceId = 'trace_0123456789abcdef0123456789abcdef';
    await drive('stream', {
      agent,
      input: 'Bill it.',
      config: { tracingDisabled: false, workflowName: 'billing', traceId, groupId: 'thread_42' },
    });
    const rows = await world.guard.audit.list();
    // The tool's row and the governed Stripe call's row inside it.
    expect(rows.map((r) => [r.vendor, r.traceId])).toEqual([
      ['stripe', `${traceId};group=thread_42`],
      ['tool', `${traceId};group=thread_42`],
    ]);

    await runAgent(billing.tools, [{ calls: [chargeCall(ids.dot, 400, 'ord_6')] }]);
    expect((await world.guard.audit.list()).slice(2).map((r) => r.traceId)).toEqual([null, null]);
  });

  it('two customers named in the run context are two charges; the same customer again is a replay', async () => {
    const ids = await world.customers('alice', 'bob');
    const stripe = world.governedStripe();
    // Whose order it is comes from the signed-in session in the context, not from the model.
    const chargeSignedIn = tool({
      name: 'charge',
      description: 'Charge the signed-in customer for an order.',
      parameters: z.object({ amountCents: z.number().int(), orderId: z.string() }),
      execute: async ({ amountCents, orderId }, runContext) => {
        const { customer } = (runContext?.context ?? {}) as { customer: string };
        const paid = await stripe.charges.create({
          amount: amountCents,
          currency: 'usd',
          customer,
          metadata: { order_id: orderId },
        });
        return { chargeId: paid.id, customer: paid.customer };
      },
    });
    const tools = guardTools([chargeSignedIn], { guard: world.guard, key: world.rootToken });
    const buy: Script = [{ calls: [{ tool: 'charge', input: { amountCents: 2500, orderId: 'basket-1' } }] }];
    const read: unknown[] = [];
    for (const customer of [ids.alice, ids.bob, ids.alice]) {
      const played = await runAgent(tools, buy, { context: { customer, runId: `shop-${customer}` } });
      read.push(played.outputs[0]?.output);
    }
    const charges = world.fake.ledger.list('charge');
    expect(charges.map((c) => c.customer)).toEqual([ids.alice, ids.bob]);
    expect(read).toEqual([
      { chargeId: charges[0]?.id, customer: ids.alice },
      { chargeId: charges[1]?.id, customer: ids.bob },
      { chargeId: charges[0]?.id, customer: ids.alice },
    ]);
  });

  it('a context holding a client is refused until `fields` names the context entries that matter', async () => {
    const ids = await world.customers('eli');
    const billing = guarded();
    const context = { customer: ids.eli, stripe: world.governedStripe() };
    const script: Script = [{ calls: [chargeCall(ids.eli, 900, 'ord_9')] }];
    const refused = await runAgent(billing.tools, script, { context });
    // The checkpoint cannot hash a Stripe client: refused, readable, nothing charged.
    expect(refused.outputs[0]?.output).toMatchObject({
      refused: true,
      code: 'request_invalid',
      reason: expect.stringContaining('Stripe'),
    });
    expect(billing.stats.executions).toBe(0);

    const named = guarded({
      fields: { charge: ['customer', 'amountCents', 'currency', 'orderId', 'context.customer'] },
    });
    const charged = await runAgent(named.tools, script, { context });
    expect(charged.outputs[0]?.output).toMatchObject({ chargeId: expect.stringMatching(/^ch_/) });
    expect(world.fake.ledger.count('charge')).toBe(1);
  });

  it('keys the checkpoint on the named fields, or on a business key, so a reworded note is not a new charge', async () => {
    const reworded = async (options: Partial<GuardToolsOptions>) => {
      await world.reset();
      const ids = await world.customers('hal');
      const billing = guarded(options);
      await runAgent(billing.tools, [
        { calls: [chargeCall(ids.hal, 500, 'ord_1', { note: 'Thanks!' })] },
        { calls: [chargeCall(ids.hal, 500, 'ord_1', { note: 'Thank you for your order' })] },
      ]);
      return { executions: billing.stats.executions, rows: await toolRows() };
    };
    // Every field counts by default: the reworded note made it a new call.
    expect((await reworded({})).executions).toBe(2);
    const fields = await reworded({ fields: { charge: ['customer', 'amountCents', 'currency', 'orderId'] } });
    expect(fields.executions).toBe(1);
    expect(fields.rows.map((r) => r.decision)).toEqual(['executed', 'replayed']);
    const byOrder = await reworded({
      idempotencyKey: { charge: (input: { orderId: string }) => `order:${input.orderId}` },
    });
    expect(byOrder.executions).toBe(1);
    expect(byOrder.rows.map((r) => r.idempotencyKey)).toEqual(['order:ord_1', 'order:ord_1']);
  });

  it("guardTool wraps one tool, its fields typed by the tool's parameters", async () => {
    const ids = await world.customers('lee');
    const { tools, stats } = billingTools(world.governedStripe());
    const [charge] = tools;
    if (!charge) throw new Error('no charge tool');
    const one = guardTool(charge, {
      guard: world.guard,
      key: world.rootToken,
      runId: 'single',
      fields: ['customer', 'amountCents', 'orderId'],
    });
    // A field the tool's parameters do not have is a type error.
    // @ts-expect-error: 'amount' is not an input field of the charge tool
    guardTool(charge, { guard: world.guard, key: world.rootToken, fields: ['amount'] });
    const played = await runAgent(
      [one],
      [
        {
          calls: [
            chargeCall(ids.lee, 800, 'ord_1', { note: 'a' }),
            chargeCall(ids.lee, 800, 'ord_1', { note: 'b' }),
          ],
        },
      ],
    );
    expect(stats.executions).toBe(1);
    expect(new Set(played.outputs.map((o) => (o.output as { chargeId: string }).chargeId)).size).toBe(1);
    expect((await toolRows()).map((r) => [r.operation, r.runId])).toEqual([
      ['CALL charge', 'single'],
      ['CALL charge', 'single'],
    ]);
  });
});

describe('guardTools: delivering the outcome the SDK way', () => {
  it('a tool built with errorFunction: null: its failure is an output the model reads, and the run goes on', async () => {
    const ids = await world.customers('ivy');
    const stripe = world.governedStripe();
    let runs = 0;
    const flaky = tool({
      name: 'charge',
      description: 'Charge, then send the receipt.',
      parameters: z.object({ customer: z.string(), amountCents: z.number().int() }),
      errorFunction: null,
      execute: async ({ customer, amountCents }) => {
        runs++;
        const paid = await stripe.charges.create({ amount: amountCents, currency: 'usd', customer });
        if (runs === 1) throw new Error('the receipt service is down');
        return { chargeId: paid.id };
      },
    });
    const tools = guardTools([flaky], { guard: world.guard, key: world.rootToken });
    const call = { tool: 'charge', input: { customer: ids.ivy, amountCents: 1500 } };
    const played = await runAgent(tools, [{ calls: [call] }, { calls: [call] }, { text: 'Charged.' }]);
    // Without spendguard `errorFunction: null` would make run() reject; the model reads why instead.
    expect(played.error).toBeUndefined();
    expect(played.outputs[0]?.output).toMatchObject({
      refused: true,
      code: 'vendor_error',
      reason: expect.stringContaining('the receipt service is down'),
    });
    // Called again, the tool runs again; the charge inside it is not made twice.
    expect(played.outputs[1]?.output).toEqual({ chargeId: world.fake.ledger.list('charge')[0]?.id });
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(runs).toBe(2);
  });

  describe.each(MODES)('the kill switch under %s', (mode) => {
    it('a key revoked mid-run rejects the run with a ToolCallError wrapping a RunStoppedError; the parallel sibling is cancelled through its signal', async () => {
      const ids = await world.customers('kit');
      const billing = guarded({ runId: `revoked-${mode}` });
      let siblingAborted: unknown;
      // A slow lookup started in the same turn as the charge: it ends when the SDK aborts its signal.
      const lookup = tool({
        name: 'lookup',
        description: 'Look up the customer.',
        parameters: z.object({ customer: z.string() }),
        execute: (_input, _context, details) =>
          new Promise((resolve) => {
            details?.signal?.addEventListener('abort', () => {
              siblingAborted = details.signal?.reason;
              resolve('aborted');
            });
          }),
      });
      const turns: Turn[] = [
        { calls: [chargeCall(ids.kit, 100, 'ord_1')] },
        { calls: [{ tool: 'lookup', input: { customer: ids.kit } }, chargeCall(ids.kit, 100, 'ord_2')] },
      ];
      const { agent, scripted } = scriptedAgent(
        async (n) => {
          if (n === 1) await world.revokeRun(`revoked-${mode}`); // an operator pulls the key after the first charge
          return turns[n] ?? { text: 'Charged.' };
        },
        { tools: [lookup, ...billing.tools] },
      );
      const outcome = await drive(mode, { agent, input: 'Charge Kit for both orders.' });
      expect(outcome.error).toMatchObject({ name: 'ToolCallError' });
      const stopped = runStoppedErrorOf(outcome.error);
      expect(RunStoppedError.isInstance(stopped)).toBe(true);
      expect(stopped?.code).toBe('key_revoked');
      expect((outcome.error as { error?: unknown }).error).toBe(stopped);
      expect((outcome.error as Error).message).toContain('revoked');
      expect(siblingAborted).toBeInstanceOf(Error);
      expect(scripted.inputs()).toHaveLength(2); // no model call after the stop
      expect(outcome.outputs.find((o) => o.error !== undefined)?.error).toBe(stopped);
      expect(world.fake.ledger.count('charge')).toBe(1);
      expect((await toolRows()).map((r) => [r.decision, r.code])).toEqual([
        ['executed', 'executed'],
        ['denied', 'key_revoked'],
      ]);
    });
  });

  describe.each(MODES)('a key revoked while the tool runs, under %s', (mode) => {
    it("still stops the run, though the SDK's default error function hid the Stripe call's refusal", async () => {
      const ids = await world.customers('max');
      const stripe = world.governedStripe();
      const runId = `revoked-inside-${mode}`;
      // The operator pulls the key after the tool's checkpoint, before its Stripe call: the
      // refusal is thrown inside `execute`, where the default error function turns it into
      // "Please try again" text.
      const charge = tool({
        name: 'charge',
        description: 'Charge a customer for an order.',
        parameters: chargeParameters,
        execute: async (input) => {
          await world.revokeRun(runId);
          return chargeOrder(stripe, { ...input, note: input.note ?? undefined });
        },
      });
      const tools = guardTools([charge], { guard: world.guard, key: world.rootToken, runId });
      const { agent, scripted } = scriptedAgent(
        [{ calls: [chargeCall(ids.max, 100, 'ord_1')] }, { text: 'Charged.' }],
        { tools },
      );
      const outcome = await drive(mode, { agent, input: 'Charge Max $1.' });
      expect(outcome.error).toMatchObject({ name: 'ToolCallError' });
      expect(runStoppedErrorOf(outcome.error)?.code).toBe('key_revoked');
      expect(scripted.inputs()).toHaveLength(1); // the model never read "Please try again"
      expect(world.fake.ledger.count('charge')).toBe(0);
      expect((await world.guard.audit.list()).map((r) => [r.vendor, r.decision, r.code])).toEqual([
        ['stripe', 'denied', 'key_revoked'],
        ['tool', 'denied', 'key_revoked'],
      ]);
    });
  });

  it('stops the run when the root key is revoked before its run key exists', async () => {
    const ids = await world.customers('joy');
    await world.guard.keys.revoke(world.rootId);
    const billing = guarded();
    const played = await runAgent(billing.tools, [
      { calls: [chargeCall(ids.joy, 100, 'o1')] },
      { calls: [chargeCall(ids.joy, 100, 'o2')] },
    ]);
    expect(runStoppedErrorOf(played.error)?.code).toBe('key_invalid');
    expect(played.scripted.inputs()).toHaveLength(1);
    expect(billing.stats.executions).toBe(0);
  });
});
