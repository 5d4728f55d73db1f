import { Agent } from '@mastra/core/agent';
import { noopLogger } from '@mastra/core/logger';
import { RequestContext } from '@mastra/core/request-context';
import { InMemoryStore } from '@mastra/core/storage';
import { createTool, Tool } from '@mastra/core/tools';
import { Memory } from '@mastra/memory';
import { type AuditRow, SpendguardError } from '@spendguard/core';
import { BillingWorld, chargeCall, describeAdapterBehaviour, type Turn } from '@spendguard/testkit/adapters';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type GuardToolsOptions, guardTool, guardTools, isGuardedTool } from './guard-tools.ts';
import { type BillingTools, billingTools } from './testing/billing.ts';
import { drive, MODES } from './testing/drive.ts';
import { asAgentModel, promptOf, scriptedModel } from './testing/scripted-model.ts';
import { mastraSurface } from './testing/surface.ts';
import { billOrderWorkflow, workflowMastra } from './testing/workflows.ts';

// The adapter contract's rows F1–F4, F6–F8, through a real Agent's generate() and stream().
for (const mode of MODES) describeAdapterBehaviour(`mastra/${mode}`, mastraSurface(mode));

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

type Options = Partial<GuardToolsOptions<BillingTools>>;

function guarded(options: Options = {}) {
  const { tools, stats } = billingTools(world.governedStripe());
  return { tools: guardTools(tools, { guard: world.guard, key: world.rootToken, ...options }), stats };
}

function agentOf(tools: Record<string, unknown>, script: Turn[], id = 'billing-agent') {
  const model = scriptedModel(script);
  const agent = new Agent({
    id,
    name: id,
    instructions: 'Bill.',
    model: asAgentModel(model),
    tools: tools as never,
  });
  agent.__setLogger(noopLogger);
  return { agent, model };
}

async function toolRows(): Promise<AuditRow[]> {
  return (await world.guard.audit.list()).filter((r) => r.vendor === 'tool');
}

describe('guardTools: mapping Mastra in', () => {
  it('binds each agent run to its own run key: Mastra’s runId, else the option, else per toolset', async () => {
    const ids = await world.customers('gus');
    const call = (orderId: string): Turn => ({ calls: [chargeCall(ids.gus, 100, orderId)] });
    const shared = guarded();
    const a = await drive('generate', agentOf(shared.tools, [call('o1')]).agent, 'go');
    const b = await drive('generate', agentOf(shared.tools, [call('o2')]).agent, 'go');
    const named = guarded({ runId: 'session-42' });
    await drive('generate', agentOf(named.tools, [call('o3')]).agent, 'go');
    const byThread = guarded({ runId: ({ threadId }) => threadId && `thread:${threadId}` });
    const memory = new Memory({ storage: new InMemoryStore() });
    const withMemory = agentOf(byThread.tools, [call('o4')]);
    const threaded = new Agent({
      id: 'threaded',
      name: 'threaded',
      instructions: 'Bill.',
      model: asAgentModel(withMemory.model),
      tools: byThread.tools,
      memory,
    });
    threaded.__setLogger(noopLogger);
    await drive('generate', threaded, 'go', { memory: { thread: 't-7', resource: 'u-7' } });
    // A direct call (no Mastra context) belongs to the toolset's own run.
    await shared.tools.charge.execute?.(
      { customer: ids.gus as string, amountCents: 100, currency: 'usd', orderId: 'o5' },
      {} as never,
    );
    const rows = await toolRows();
    expect(rows.map((r) => r.runId)).toEqual([
      a.runId,
      b.runId,
      'session-42',
      'thread:t-7',
      expect.stringMatching(/^mastra-[0-9a-f-]{36}$/),
    ]);
    expect(a.runId).not.toBe(b.runId);
    // Each run acted with its own key, derived from the root key.
    const session = await world.runKey('session-42');
    expect(rows[2]?.keyId).toBe(session?.id);
    expect(new Set(rows.map((r) => r.keyId)).size).toBe(5);
  });

  it('attributes audit rows to the Mastra agent and its tool call ids unless `agentId` names one', async () => {
    const ids = await world.customers('hal');
    const { agent } = agentOf(
      guarded().tools,
      [{ calls: [chargeCall(ids.hal, 100, 'o1')] }],
      'support-agent',
    );
    const run = await drive('stream', agent, 'go');
    const { agent: named } = agentOf(guarded({ agentId: 'billing' }).tools, [
      { calls: [chargeCall(ids.hal, 200, 'o2')] },
    ]);
    await drive('stream', named, 'go');
    const rows = await world.guard.audit.list();
    expect(rows.map((r) => [r.vendor, r.agentId, r.toolCallId])).toEqual([
      ['stripe', 'support-agent', run.calls[0]?.toolCallId],
      ['tool', 'support-agent', run.calls[0]?.toolCallId],
      ['stripe', 'billing', expect.stringMatching(/^call_/)],
      ['tool', 'billing', expect.stringMatching(/^call_/)],
    ]);
  });

  it('in a workflow step: the workflow run, the workflow as the agent, no tool call id', async () => {
    const ids = await world.customers('ida');
    const mastra = workflowMastra({ billOrder: billOrderWorkflow(guarded().tools.charge) });
    const run = await mastra.getWorkflow('billOrder').createRun();
    const result = await run.start({
      inputData: { customer: ids.ida as string, amountCents: 500, currency: 'usd', orderId: 'ord_1' },
    });
    expect(result.status).toBe('success');
    const [row] = await toolRows();
    expect([row?.runId, row?.agentId, row?.toolCallId]).toEqual([run.runId, 'bill-order', null]);
  });

  it('two customers named in the request context are two charges (requestContextSchema)', async () => {
    const ids = await world.customers('alice', 'bob');
    const stripe = world.governedStripe();
    // The tool charges the signed-in customer, read from the request context.
    const chargeSignedIn = createTool({
      id: 'charge-signed-in',
      description: 'Charge the signed-in customer for an order.',
      inputSchema: z.object({ amountCents: z.number().int(), orderId: z.string() }),
      requestContextSchema: z.object({ customer: z.string() }),
      execute: async ({ amountCents, orderId }, { requestContext }) => {
        const paid = await stripe.charges.create({
          amount: amountCents,
          currency: 'usd',
          customer: requestContext.get('customer'),
          metadata: { order_id: orderId },
        });
        return { chargeId: paid.id, customer: paid.customer };
      },
    });
    const tools = guardTools({ chargeSignedIn }, { guard: world.guard, key: world.rootToken });
    const buy = (customer: string | undefined) => {
      const requestContext = new RequestContext([
        ['customer', customer],
        ['requestId', `req-${Math.random()}`], // not declared: not part of the checkpoint
      ]);
      const { agent } = agentOf(tools, [
        { calls: [{ tool: 'chargeSignedIn', input: { amountCents: 2500, orderId: 'basket-1' } }] },
      ]);
      return drive('generate', agent, 'buy it', { requestContext });
    };
    const alice = await buy(ids.alice);
    const bob = await buy(ids.bob);
    const charges = world.fake.ledger.list('charge');
    expect(charges.map((c) => c.customer)).toEqual([ids.alice, ids.bob]);
    expect([alice.calls[0]?.output, bob.calls[0]?.output]).toEqual([
      { chargeId: charges[0]?.id, customer: ids.alice },
      { chargeId: charges[1]?.id, customer: ids.bob },
    ]);
    // Alice again, with a new request id: the same call, replayed.
    const again = await buy(ids.alice);
    expect(world.fake.ledger.count('charge')).toBe(2);
    expect(again.calls[0]?.output).toEqual(alice.calls[0]?.output);
  });

  it('keys the checkpoint on the named fields, or on a business key, so a reworded note is not a new charge', async () => {
    const reworded = async (options: Options) => {
      await world.reset();
      const ids = await world.customers('hal');
      const billing = guarded(options);
      const { agent } = agentOf(billing.tools, [
        { calls: [chargeCall(ids.hal, 500, 'ord_1', { note: 'Thanks!' })] },
        { calls: [chargeCall(ids.hal, 500, 'ord_1', { note: 'Thank you for your order' })] },
      ]);
      await drive('generate', agent, 'go');
      return { executions: billing.stats.executions, rows: await toolRows() };
    };
    expect((await reworded({})).executions).toBe(2);
    const fields = await reworded({ fields: { charge: ['customer', 'amountCents', 'currency', 'orderId'] } });
    expect(fields.executions).toBe(1);
    expect(fields.rows.map((r) => r.decision)).toEqual(['executed', 'replayed']);
    const seen: string[] = [];
    const byOrder = await reworded({
      idempotencyKey: {
        charge: (input, { call, toolName }) => {
          seen.push(`${call.site}:${toolName}:${call.toolCallId}`);
          return `order:${input.orderId}`;
        },
      },
    });
    expect(byOrder.executions).toBe(1);
    expect(byOrder.rows.map((r) => r.idempotencyKey)).toEqual(['order:ord_1', 'order:ord_1']);
    expect(seen).toEqual([
      expect.stringMatching(/^agent:charge:call_/),
      expect.stringMatching(/^agent:charge:call_/),
    ]);
  });

  it('keeps the memory’s resource in the checkpoint: two users, the same input, two charges', async () => {
    const ids = await world.customers('sam', 'tia');
    const customerOf: Record<string, string | undefined> = { 'user-sam': ids.sam, 'user-tia': ids.tia };
    const stripe = world.governedStripe();
    // The tool bills the user the memory belongs to, not anyone the model names.
    const chargeMe = createTool({
      id: 'charge-me',
      description: 'Charge my account for an order.',
      inputSchema: z.object({ amountCents: z.number().int(), orderId: z.string() }),
      execute: async ({ amountCents, orderId }, { agent }) => {
        const customer = customerOf[agent?.resourceId ?? ''] as string;
        const paid = await stripe.charges.create({
          amount: amountCents,
          currency: 'usd',
          customer,
          metadata: { order_id: orderId },
        });
        return { chargeId: paid.id, customer: paid.customer };
      },
    });
    const tools = guardTools({ chargeMe }, { guard: world.guard, key: world.rootToken });
    const memory = new Memory({ storage: new InMemoryStore() });
    const outputs: unknown[] = [];
    for (const resource of ['user-sam', 'user-tia', 'user-sam']) {
      const model = scriptedModel([
        { calls: [{ tool: 'chargeMe', input: { amountCents: 700, orderId: 'plan-pro' } }] },
      ]);
      const agent = new Agent({
        id: 'billing-agent',
        name: 'billing-agent',
        instructions: 'Bill.',
        model: asAgentModel(model),
        tools,
        memory,
      });
      agent.__setLogger(noopLogger);
      const run = await drive('generate', agent, 'Upgrade me to pro.', {
        memory: { thread: `t-${resource}`, resource },
      });
      outputs.push(run.calls[0]?.output);
    }
    expect(world.fake.ledger.list('charge').map((c) => c.customer)).toEqual([ids.sam, ids.tia]);
    // Sam again (another thread): his own charge, replayed.
    expect(outputs[2]).toEqual(outputs[0]);
    expect(outputs[1]).not.toEqual(outputs[0]);
  });
});

describe('guardTools: what comes out', () => {
  it('returns Mastra tools with the same id, description and schemas; tools without execute as they are', () => {
    const { tools } = billingTools(world.plainStripe());
    const clientSide = createTool({
      id: 'ask',
      description: 'Ask the user',
      inputSchema: z.object({ q: z.string() }),
    });
    const wrapped = guardTools({ ...tools, ask: clientSide }, { guard: world.guard, key: world.rootToken });
    expect(wrapped.ask).toBe(clientSide);
    const charge = wrapped.charge;
    expect(charge).toBeInstanceOf(Tool);
    expect(isGuardedTool(charge)).toBe(true);
    expect(isGuardedTool(tools.charge)).toBe(false);
    expect([charge.id, charge.description, charge.inputSchema, charge.outputSchema]).toEqual([
      tools.charge.id,
      tools.charge.description,
      tools.charge.inputSchema,
      tools.charge.outputSchema,
    ]);
    expect(charge.execute).not.toBe(tools.charge.execute);
    // The original is untouched.
    expect(Object.keys(tools.charge)).toEqual(Object.keys(charge));
  });

  it('refuses to wrap a guarded tool again (it would wait for its own checkpoint)', () => {
    const once = guarded().tools.charge;
    const again = () => guardTool(once, { guard: world.guard, key: world.rootToken });
    expect(again).toThrow(/already guarded/);
    try {
      again();
    } catch (error) {
      expect(SpendguardError.isInstance(error)).toBe(true);
    }
  });

  it('guardTool wraps one tool, named by its id, with its own fields', async () => {
    const ids = await world.customers('lee');
    const { tools, stats } = billingTools(world.governedStripe());
    const charge = guardTool(tools.charge, {
      guard: world.guard,
      key: world.rootToken,
      runId: 'single',
      fields: ['customer', 'amountCents', 'orderId'],
    });
    const { agent } = agentOf({ charge }, [
      {
        calls: [
          chargeCall(ids.lee, 800, 'ord_1', { note: 'a' }),
          chargeCall(ids.lee, 800, 'ord_1', { note: 'b' }),
        ],
      },
    ]);
    const run = await drive('generate', agent, 'go');
    expect(stats.executions).toBe(1);
    expect(new Set(run.calls.map((c) => (c.output as { chargeId: string }).chargeId)).size).toBe(1);
    expect((await toolRows()).map((r) => [r.operation, r.runId])).toEqual([
      ['CALL charge', 'single'],
      ['CALL charge', 'single'],
    ]);
  });

  it('a refusal is the tool’s output, never a tool-error, and skips the tool’s toModelOutput', async () => {
    const ids = await world.customers('kim');
    const stripe = world.governedStripe();
    const charge = createTool({
      id: 'charge',
      description: 'Charge Kim.',
      inputSchema: z.object({ amountCents: z.number() }),
      outputSchema: z.object({ chargeId: z.string() }),
      execute: async ({ amountCents }) => {
        const paid = await stripe.charges.create({
          amount: amountCents,
          currency: 'usd',
          customer: ids.kim as string,
        });
        return { chargeId: paid.id };
      },
      toModelOutput: (output) => ({ type: 'text', value: `charged ${output.chargeId}` }),
    });
    const tools = guardTools({ charge }, { guard: world.guard, key: world.rootToken });
    const { agent, model } = agentOf(tools, [
      { calls: [{ tool: 'charge', input: { amountCents: 500 } }] },
      { calls: [{ tool: 'charge', input: { amountCents: 99_999 } }] },
      { text: 'ok' },
    ]);
    const run = await drive('generate', agent, 'go');
    expect(run.calls.map((c) => 'error' in c)).toEqual([false, false]);
    // Not turned into Mastra's "output validation failed" for the tool's outputSchema either.
    expect(run.calls[1]?.output).toMatchObject({ refused: true, code: 'param_not_allowed' });
    expect(promptOf(model, 1)).toMatch(/charged ch_/);
    expect(promptOf(model, 2)).toContain('"refused":true');
    expect(promptOf(model, 2)).toMatch(/retrying will not help/i);
  });

  it('in a workflow step a refusal ends the run as a tripwire naming the policy’s reason', async () => {
    const ids = await world.customers('eve');
    const billing = guarded();
    const mastra = workflowMastra({ billOrder: billOrderWorkflow(billing.tools.charge) });
    const run = await mastra.getWorkflow('billOrder').createRun();
    const result = await run.start({
      inputData: { customer: ids.eve as string, amountCents: 90_000, currency: 'usd', orderId: 'ord_8001' },
    });
    expect(result.status).toBe('tripwire');
    expect(result.status === 'tripwire' && result.tripwire).toMatchObject({
      processorId: 'spendguard',
      reason: expect.stringContaining('above the maximum 50000'),
      metadata: { code: 'param_not_allowed', toolName: 'charge', runId: run.runId },
    });
    expect(world.fake.ledger.requests).toHaveLength(1); // creating the customer; no charge request
  });

  it('returns Mastra’s validation error for a bad input without a checkpoint or an audit row', async () => {
    const billing = guarded();
    const output = await billing.tools.charge.execute?.({ amountCents: 'lots' } as never, {} as never);
    expect(output).toMatchObject({ error: true, message: expect.stringContaining('validation failed') });
    expect(billing.stats.executions).toBe(0);
    expect(await world.guard.audit.list()).toEqual([]);
  });
});

describe('hostile model output through a real agent', () => {
  it('any tool call id and any input: results or readable refusals, never more charges than distinct valid inputs', async () => {
    const ids = await world.customers('zed');
    const prototypes = () =>
      JSON.stringify([Object.getOwnPropertyNames(Object.prototype).sort(), Object.keys({})]);
    const before = prototypes();
    const input = fc.oneof(
      fc.record({
        customer: fc.constantFrom(ids.zed, 'cus_unknown', '', '__proto__'),
        amountCents: fc.oneof(
          fc.integer({ min: -5, max: 60_000 }),
          fc.double(),
          fc.constant(Number.MAX_SAFE_INTEGER),
        ),
        orderId: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('__proto__', 'constructor')),
        currency: fc.constantFrom('usd', 'eur', 'USD'),
        note: fc.option(fc.string({ maxLength: 2000 }), { nil: undefined }),
      }),
      // Any other JSON object (a provider's tool arguments are an object; Mastra itself answers the rest).
      fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 })),
    );
    // Ids named like Object.prototype's members (`__proto__`, `constructor`) crash Mastra 1.71's own
    // stream before any tool runs (it keys a plain object by tool call id): not the wrapper's to test.
    const callId = fc
      .oneof(fc.string({ minLength: 1, maxLength: 600 }), fc.constantFrom('💸', 'call 1', 'x'.repeat(300)))
      .filter((id) => !(id in Object.prototype));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(callId, input), { minLength: 1, maxLength: 4, selector: ([id]) => id }),
        async (calls) => {
          await world.reset();
          await world.customers('zed');
          const billing = guarded();
          const { agent } = agentOf(billing.tools, [
            { calls: calls.map(([id, i]) => ({ tool: 'charge', input: i, id })) },
            { text: 'ok' },
          ]);
          const run = await drive('generate', agent, 'go');
          expect(run.error).toBeUndefined();
          for (const c of run.calls) {
            // Nothing the wrapper does throws: every call has an output the model reads.
            expect('error' in c).toBe(false);
            expect('output' in c).toBe(true);
          }
          const distinct = new Set(calls.map(([, i]) => JSON.stringify(i))).size;
          expect(world.fake.ledger.count('charge')).toBeLessThanOrEqual(distinct);
          expect(world.chargedUsd()).toBeLessThanOrEqual(500 * distinct);
          for (const row of await world.guard.audit.list()) {
            expect(
              row.toolCallId === null || (typeof row.toolCallId === 'string' && row.toolCallId.length <= 71),
            ).toBe(true);
          }
        },
      ),
      { numRuns: 25 },
    );
    expect(prototypes()).toBe(before);
  });
});
