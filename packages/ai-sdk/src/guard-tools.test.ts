import type { AuditRow } from '@spendguard/core';
import { BillingWorld, describeAdapterBehaviour, type Turn } from '@spendguard/testkit/adapters';
import { type ModelMessage, type ToolSet, tool } from 'ai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { spendguardToolApproval, type VendorRequest } from './approval.ts';
import { RunStoppedError } from './errors.ts';
import { type GuardToolsOptions, guardTool, guardTools } from './guard-tools.ts';
import { billingTools } from './testing/billing.ts';
import {
  approvalRequests,
  approvalResponse,
  drive,
  MODES,
  type Mode,
  toolOutcomes,
} from './testing/drive.ts';
import { promptOf, scriptedModel } from './testing/scripted-model.ts';
import { aiSdkSurface } from './testing/surface.ts';

// The adapter contract's rows F1–F4, F6–F8, through generateText and streamText.
for (const mode of MODES) describeAdapterBehaviour(`ai-sdk/${mode}`, aiSdkSurface(mode));

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

type Billing = ReturnType<typeof billingTools>;
type Options = Partial<GuardToolsOptions<Billing['tools']>>;

/** The same tools through `guardTools`, their Stripe client governed by the run binding. */
function guarded(options: Options = {}): Billing {
  const { tools, stats } = billingTools(world.governedStripe());
  return {
    tools: guardTools(tools, {
      guard: world.guard,
      key: world.rootToken,
      agentId: 'billing-agent',
      ...options,
    }),
    stats,
  };
}

/** The Stripe call the charge tool makes for an input: what the policy's approval rule is checked against. */
function chargeRequest(input: { customer: string; amountCents: number; currency: string }): VendorRequest {
  return {
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: input.amountCents, currency: input.currency, customer: input.customer },
  };
}

function charge(customer: string | undefined, amountCents: number, orderId: string, extra = {}) {
  return { tool: 'charge', input: { customer, amountCents, orderId, ...extra } };
}

async function toolRows(): Promise<AuditRow[]> {
  return (await guard().audit.list()).filter((r) => r.vendor === 'tool');
}

function guard() {
  return world.guard;
}

/** The output of a tool result (not an error). */
function outputOf(o: { output?: unknown; error?: unknown } | undefined): Record<string, unknown> {
  expect(o?.error).toBeUndefined();
  return o?.output as Record<string, unknown>;
}

describe.each(MODES)('guardTools under %s: the approval rule', (mode: Mode) => {
  it('approval rule: a charge above $400 asks the AI SDK for approval; nothing runs, nothing is reserved', async () => {
    const ids = await world.customers('fay');
    const billing = guarded({ runId: 'run-fay', approval: { charge: chargeRequest } });
    const model = scriptedModel([{ calls: [charge(ids.fay, 45_000, 'ord_9001')] }, { text: 'Charged.' }]);
    const first = await drive(mode, {
      model,
      tools: billing.tools,
      prompt: 'Charge Fay $450 for order 9001.',
    });

    expect(first.error).toBeUndefined();
    // The AI SDK's own approval request, not a tool result: the loop stops and waits for the app.
    const [asked] = approvalRequests(first);
    expect(approvalRequests(first)).toHaveLength(1);
    expect(asked).toMatchObject({ toolName: 'charge', input: { amountCents: 45_000, orderId: 'ord_9001' } });
    expect(asked?.isAutomatic).toBeFalsy();
    expect(toolOutcomes(first)).toEqual([]);
    expect(model.served).toBe(1);
    // What the app stores: the call and its approval request, in the assistant message.
    expect(first.messages).toEqual([
      {
        role: 'assistant',
        content: [
          expect.objectContaining({ type: 'tool-call', toolCallId: asked?.toolCallId, toolName: 'charge' }),
          expect.objectContaining({
            type: 'tool-approval-request',
            approvalId: asked?.approvalId,
            toolCallId: asked?.toolCallId,
          }),
        ],
      },
    ]);
    // Nothing ran, nothing was charged, reserved or audited.
    expect(billing.stats.executions).toBe(0);
    expect(world.fake.ledger.count('charge')).toBe(0);
    const runKey = await guard().keys.derive(world.rootToken, { runId: 'run-fay' });
    expect((await guard().spend(runKey.id)).lifetimeUsd).toBe(0);
    expect(await guard().audit.list()).toEqual([]);
  });

  it('approval rule: the app approves with a tool-approval-response → charged once, audited as approved', async () => {
    const ids = await world.customers('fay');
    const user: ModelMessage = { role: 'user', content: 'Charge Fay $450 for order 9001.' };
    const billing = guarded({ approval: { charge: chargeRequest } });
    const first = await drive(mode, {
      model: scriptedModel([{ calls: [charge(ids.fay, 45_000, 'ord_9001')] }]),
      tools: billing.tools,
      prompt: [user],
    });
    const [asked] = approvalRequests(first);
    const approved = [
      user,
      ...first.messages,
      approvalResponse([{ approvalId: asked?.approvalId as string, approved: true }]),
    ];

    // The next request: the same conversation, answered. The AI SDK runs the approved call first.
    const model = scriptedModel([{ text: 'Charged Fay $450.' }]);
    const second = await drive(mode, { model, tools: billing.tools, prompt: approved });
    expect(second.error).toBeUndefined();
    expect(billing.stats.executions).toBe(1);
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(world.chargedUsd()).toBe(450);
    const [paid] = world.fake.ledger.list('charge');
    // The model reads the charge's result.
    expect(promptOf(model, 0)).toContain(paid?.id);
    const rows = await guard().audit.list();
    expect(rows.map((r) => [r.vendor, r.decision, r.toolCallId])).toEqual([
      ['stripe', 'executed', asked?.toolCallId],
      ['tool', 'executed', asked?.toolCallId],
    ]);
    expect(rows[0]?.message).toBe(`approved by ai-sdk tool approval ${asked?.approvalId}`);

    // The same answer sent again (a double click, a retried request) is not a second charge.
    await drive(mode, {
      model: scriptedModel([{ text: 'Charged.' }]),
      tools: billing.tools,
      prompt: approved,
    });
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(billing.stats.executions).toBe(1);
    expect((await toolRows()).map((r) => r.decision)).toEqual(['executed', 'replayed']);
  });

  it('approval rule: the app denies → nothing charged, the model reads the AI SDK’s denial', async () => {
    const ids = await world.customers('fay');
    const user: ModelMessage = { role: 'user', content: 'Charge Fay $450 for order 9001.' };
    const billing = guarded({ approval: { charge: chargeRequest } });
    const first = await drive(mode, {
      model: scriptedModel([{ calls: [charge(ids.fay, 45_000, 'ord_9001')] }]),
      tools: billing.tools,
      prompt: [user],
    });
    const [asked] = approvalRequests(first);
    const model = scriptedModel([{ text: 'Fay was not charged: the charge was declined.' }]);
    const second = await drive(mode, {
      model,
      tools: billing.tools,
      prompt: [
        user,
        ...first.messages,
        approvalResponse([
          { approvalId: asked?.approvalId as string, approved: false, reason: 'Too much for one order' },
        ]),
      ],
    });
    expect(second.error).toBeUndefined();
    expect(billing.stats.executions).toBe(0);
    expect(world.fake.ledger.count('charge')).toBe(0);
    expect(await guard().audit.list()).toEqual([]);
    // The AI SDK's own denial, as a tool result for the call, is what the model reads next.
    const prompt = model.doGenerateCalls[0]?.prompt ?? model.doStreamCalls[0]?.prompt;
    const results = (prompt ?? []).flatMap((m) =>
      m.role === 'tool' ? m.content.filter((p) => p.type === 'tool-result') : [],
    );
    expect(results).toEqual([
      expect.objectContaining({
        toolCallId: asked?.toolCallId,
        output: { type: 'execution-denied', reason: 'Too much for one order' },
      }),
    ]);
  });

  it('approval rule: a charge below the threshold needs no approval and runs at once', async () => {
    const ids = await world.customers('gil');
    const billing = guarded({ approval: { charge: chargeRequest } });
    const model = scriptedModel([{ calls: [charge(ids.gil, 39_900, 'ord_9101')] }, { text: 'Charged Gil.' }]);
    const outcome = await drive(mode, { model, tools: billing.tools, prompt: 'Charge Gil $399.' });
    expect(approvalRequests(outcome)).toEqual([]);
    expect(outputOf(toolOutcomes(outcome)[0])).toMatchObject({ chargeId: expect.stringMatching(/^ch_/) });
    expect(world.chargedUsd()).toBe(399);
    expect(model.served).toBe(2);
    const stripeRow = (await guard().audit.list()).find((r) => r.vendor === 'stripe');
    expect(stripeRow?.decision).toBe('executed');
    expect(stripeRow?.message ?? '').not.toContain('approved');
  });

  it('approval rule without an `approval` mapping: core asks, and the same call runs once when approved there', async () => {
    const ids = await world.customers('fay');
    const user: ModelMessage = { role: 'user', content: 'Charge Fay $450 for order 9001.' };
    const billing = guarded();
    const first = await drive(mode, {
      model: scriptedModel([
        { calls: [charge(ids.fay, 45_000, 'ord_9001')] },
        { text: 'It needs approval.' },
      ]),
      tools: billing.tools,
      prompt: [user],
    });
    expect(approvalRequests(first)).toEqual([]);
    const pending = outputOf(toolOutcomes(first)[0]);
    expect(pending).toMatchObject({ refused: true, reason: expect.stringContaining('approv') });
    expect(world.fake.ledger.count('charge')).toBe(0);
    const asked = (await guard().audit.list()).find((r) => r.decision === 'needs_approval');
    const approvalId = /apr_[0-9a-f]+/.exec(asked?.message ?? '')?.[0];
    expect(pending.reason).toContain(approvalId);

    await guard().approvals.approve(approvalId as string, { by: 'ops@example.com' });
    await drive(mode, {
      model: scriptedModel([{ calls: [charge(ids.fay, 45_000, 'ord_9001')] }, { text: 'Charged.' }]),
      tools: billing.tools,
      prompt: [user, ...first.messages, { role: 'user', content: 'Approved. Go ahead.' }],
    });
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(world.chargedUsd()).toBe(450);
  });
});

describe('guardTools: mapping the AI SDK in and out', () => {
  it('takes the run id from the tool context, else the options, else one generated per guardTools call', async () => {
    const ids = await world.customers('gus');
    const call = (orderId: string): Turn => ({ calls: [charge(ids.gus, 100, orderId)] });
    const shared = guarded();
    await drive('generateText', { model: scriptedModel([call('o1')]), tools: shared.tools, prompt: 'go' });
    await drive('generateText', { model: scriptedModel([call('o2')]), tools: shared.tools, prompt: 'go' });
    await drive('generateText', { model: scriptedModel([call('o3')]), tools: guarded().tools, prompt: 'go' });
    const named = guarded({ runId: 'session-42' });
    await drive('generateText', { model: scriptedModel([call('o4')]), tools: named.tools, prompt: 'go' });
    await drive('generateText', {
      model: scriptedModel([call('o5')]),
      tools: named.tools,
      prompt: 'go',
      toolsContext: { charge: { runId: 'request-7' } },
    });
    const runs = (await toolRows()).map((r) => r.runId);
    expect(runs[0]).toBe(runs[1]); // one guardTools call, one run
    expect(runs[2]).not.toBe(runs[0]);
    expect(runs.slice(3)).toEqual(['session-42', 'request-7']);
    // Each call ran under its run's own key.
    const keyIds = (await toolRows()).map((r) => r.keyId);
    const request7 = await guard().keys.derive(world.rootToken, { runId: 'request-7' });
    expect(keyIds[4]).toBe(request7.id);
    expect(new Set(keyIds).size).toBe(4);
  });

  it('two customers named in toolsContext are two charges: each model reads its own', async () => {
    const ids = await world.customers('alice', 'bob');
    const stripe = world.governedStripe();
    // The README's pattern: whose order it is comes from the request, not from the model.
    const chargeFromContext = tool({
      description: 'Charge the signed-in customer for an order.',
      inputSchema: z.object({ amountCents: z.number().int(), orderId: z.string() }),
      contextSchema: z.object({ customer: z.string(), runId: z.string().optional() }),
      execute: async ({ amountCents, orderId }, { context }) => {
        const paid = await stripe.charges.create({
          amount: amountCents,
          currency: 'usd',
          customer: context.customer,
          metadata: { order_id: orderId },
        });
        return { chargeId: paid.id, customer: paid.customer };
      },
    });
    const tools = guardTools({ charge: chargeFromContext }, { guard: world.guard, key: world.rootToken });
    const read: unknown[] = [];
    for (const customer of [ids.alice, ids.bob]) {
      const outcome = await drive('generateText', {
        model: scriptedModel([
          { calls: [{ tool: 'charge', input: { amountCents: 2500, orderId: 'basket-1' } }] },
        ]),
        tools,
        prompt: 'buy it',
        toolsContext: { charge: { customer, runId: 'shop-session' } },
      });
      read.push(toolOutcomes(outcome)[0]?.output);
    }
    const charges = world.fake.ledger.list('charge');
    expect(charges.map((c) => c.customer)).toEqual([ids.alice, ids.bob]);
    expect(read).toEqual([
      { chargeId: charges[0]?.id, customer: ids.alice },
      { chargeId: charges[1]?.id, customer: ids.bob },
    ]);
    // The same customer again in another run is the same call: replayed, not charged twice.
    await drive('generateText', {
      model: scriptedModel([
        { calls: [{ tool: 'charge', input: { amountCents: 2500, orderId: 'basket-1' } }] },
      ]),
      tools,
      prompt: 'buy it',
      toolsContext: { charge: { customer: ids.alice, runId: 'another-session' } },
    });
    expect(world.fake.ledger.count('charge')).toBe(2);
  });

  it('keys the checkpoint on the named fields, or on a business key, so a reworded note is not a new charge', async () => {
    const reworded = async (options: Options) => {
      await world.reset();
      const ids = await world.customers('hal');
      const billing = guarded(options);
      const model = scriptedModel([
        { calls: [charge(ids.hal, 500, 'ord_1', { note: 'Thanks!' })] },
        { calls: [charge(ids.hal, 500, 'ord_1', { note: 'Thank you for your order' })] },
      ]);
      await drive('generateText', { model, tools: billing.tools, prompt: 'go' });
      return { executions: billing.stats.executions, rows: await toolRows() };
    };
    // Every field counts by default: the reworded note made it a new call.
    expect((await reworded({})).executions).toBe(2);
    const fields = await reworded({ fields: { charge: ['customer', 'amountCents', 'currency', 'orderId'] } });
    expect(fields.executions).toBe(1);
    expect(fields.rows.map((r) => r.decision)).toEqual(['executed', 'replayed']);
    const byOrder = await reworded({ idempotencyKey: { charge: (input) => `order:${input.orderId}` } });
    expect(byOrder.executions).toBe(1);
    expect(byOrder.rows.map((r) => r.idempotencyKey)).toEqual(['order:ord_1', 'order:ord_1']);
  });

  it('guardTool wraps one tool, with its own fields', async () => {
    const ids = await world.customers('lee');
    const { tools, stats } = billingTools(world.governedStripe());
    const charge1 = guardTool(tools.charge, {
      name: 'charge',
      guard: guard(),
      key: world.rootToken,
      runId: 'single',
      fields: ['customer', 'amountCents', 'orderId'],
    });
    const model = scriptedModel([
      { calls: [charge(ids.lee, 800, 'ord_1', { note: 'a' }), charge(ids.lee, 800, 'ord_1', { note: 'b' })] },
    ]);
    const outcome = await drive('generateText', { model, tools: { charge: charge1 }, prompt: 'go' });
    expect(stats.executions).toBe(1);
    expect(new Set(toolOutcomes(outcome).map((o) => outputOf(o).chargeId)).size).toBe(1);
    expect((await toolRows()).map((r) => [r.operation, r.runId])).toEqual([
      ['CALL charge', 'single'],
      ['CALL charge', 'single'],
    ]);
  });

  it('spendguardToolApproval: the toolApproval setting asks with a reason; `approver` names the human', async () => {
    const ids = await world.customers('ned');
    const billing = guarded({
      approval: { charge: chargeRequest },
      approver: ({ approvalId, toolName }) => `ana@shop.example (${toolName}, ${approvalId})`,
    });
    const toolApproval = spendguardToolApproval(billing.tools);
    expect(Object.keys(toolApproval)).toEqual(['charge']);
    const user: ModelMessage = { role: 'user', content: 'Charge Ned $450.' };
    const first = await drive('streamText', {
      model: scriptedModel([{ calls: [charge(ids.ned, 45_000, 'ord_1')] }]),
      tools: billing.tools,
      toolApproval,
      prompt: [user],
    });
    const [asked] = approvalRequests(first);
    // The reason an approval UI can show (the tool's needsApproval path has none to give).
    expect(asked?.reason).toBe("spendguard: the policy wants a human's approval for stripe POST /v1/charges");
    expect(world.fake.ledger.count('charge')).toBe(0);

    await drive('streamText', {
      model: scriptedModel([{ text: 'Charged.' }]),
      tools: billing.tools,
      toolApproval,
      prompt: [
        user,
        ...first.messages,
        approvalResponse([{ approvalId: asked?.approvalId as string, approved: true }]),
      ],
    });
    expect(world.chargedUsd()).toBe(450);
    const stripeRow = (await guard().audit.list()).find((r) => r.vendor === 'stripe');
    expect(stripeRow?.message).toBe(`approved by ana@shop.example (charge, ${asked?.approvalId})`);

    // Below the threshold the entry answers not-applicable: no approval request. (Typed as an app
    // writes it: the entries fit generateText's own `toolApproval` for these tools.)
    const { generateText } = await import('ai');
    const small = await generateText({
      model: scriptedModel([{ calls: [charge(ids.ned, 500, 'ord_2')] }]),
      tools: billing.tools,
      toolApproval: spendguardToolApproval(billing.tools),
      prompt: 'Charge Ned $5.',
    });
    expect(small.content.filter((p) => p.type === 'tool-approval-request')).toEqual([]);
    expect(world.chargedUsd()).toBe(455);
  });

  it('claims no approval no human gave: a toolApproval that auto-approves leaves the charge to core', async () => {
    const ids = await world.customers('oli');
    const billing = guarded({ approval: { charge: chargeRequest } });
    // `toolApproval` wins over the tool's needsApproval; here it waves every charge through.
    for (const toolApproval of [{ charge: 'approved' as const }, () => 'not-applicable' as const]) {
      const outcome = await drive('generateText', {
        model: scriptedModel([{ calls: [charge(ids.oli, 45_000, 'ord_1')] }, { text: 'ok' }]),
        tools: billing.tools,
        toolApproval,
        prompt: 'Charge Oli $450.',
      });
      expect(outputOf(toolOutcomes(outcome)[0])).toMatchObject({ refused: true, code: 'approval_required' });
    }
    expect(world.fake.ledger.count('charge')).toBe(0);
    expect((await guard().audit.list()).filter((r) => r.vendor === 'stripe').map((r) => r.decision)).toEqual([
      'needs_approval',
      'needs_approval',
    ]);
  });

  it("guardTool: OR-s the tool's own needsApproval with the policy's; unmapped tools keep theirs", async () => {
    const { tool } = await import('ai');
    const ids = await world.customers('pia');
    const { tools, stats } = billingTools(world.governedStripe());
    const own = ({ note }: { note?: string | undefined }) => note === 'confirm with the customer';
    const withOwn = tool({ ...tools.charge, needsApproval: own });
    const charge1 = guardTool(withOwn, {
      name: 'charge',
      guard: guard(),
      key: world.rootToken,
      approval: chargeRequest,
    });
    const model = scriptedModel([
      {
        calls: [
          charge(ids.pia, 100, 'ord_1', { note: 'confirm with the customer' }),
          charge(ids.pia, 200, 'ord_2'),
          charge(ids.pia, 45_000, 'ord_3'),
        ],
      },
    ]);
    const outcome = await drive('generateText', { model, tools: { charge: charge1 }, prompt: 'go' });
    const calls = outcome.steps[0]?.toolCalls.map((c) => c.toolCallId) ?? [];
    expect(approvalRequests(outcome).map((a) => a.toolCallId)).toEqual([calls[0], calls[2]]);
    expect(stats.executions).toBe(1); // the $2 charge, at once
    expect(world.chargedUsd()).toBe(2);

    const unmapped = guardTool(withOwn, { name: 'charge', guard: guard(), key: world.rootToken });
    expect(unmapped.needsApproval).toBe(own);
    expect(spendguardToolApproval({ charge: unmapped })).toEqual({});
  });

  it('asks no approval when the root key is revoked: the call is refused (key_invalid) instead', async () => {
    const ids = await world.customers('quin');
    await guard().keys.revoke(world.rootId);
    const billing = guarded({ approval: { charge: chargeRequest } });
    const outcome = await drive('generateText', {
      model: scriptedModel([{ calls: [charge(ids.quin, 45_000, 'ord_1')] }, { text: 'ok' }]),
      tools: billing.tools,
      prompt: 'go',
    });
    expect(approvalRequests(outcome)).toEqual([]);
    expect(outputOf(toolOutcomes(outcome)[0])).toMatchObject({ refused: true, code: 'key_invalid' });
    expect(billing.stats.executions).toBe(0);
  });

  it('stops the run when the root key is revoked before its run key exists', async () => {
    const ids = await world.customers('ivy');
    await guard().keys.revoke(world.rootId);
    const abortController = new AbortController();
    const billing = guarded({ abortController });
    const model = scriptedModel([
      { calls: [charge(ids.ivy, 100, 'o1')] },
      { calls: [charge(ids.ivy, 100, 'o2')] },
    ]);
    const outcome = await drive('generateText', {
      model,
      tools: billing.tools,
      prompt: 'go',
      abortSignal: abortController.signal,
    });
    expect(outcome.error).toBeInstanceOf(RunStoppedError);
    expect(model.served).toBe(1);
    expect(outputOf(toolOutcomes(outcome)[0])).toMatchObject({ refused: true, code: 'key_invalid' });
    expect(billing.stats.executions).toBe(0);
  });

  it('works as the tools of a ToolLoopAgent, unchanged', async () => {
    const { ToolLoopAgent, isStepCount } = await import('ai');
    const ids = await world.customers('jo');
    const billing = guarded();
    const agent = new ToolLoopAgent({
      model: scriptedModel([
        { calls: [charge(ids.jo, 700, 'ord_1'), charge(ids.jo, 700, 'ord_1')] },
        { text: 'Charged Jo.' },
      ]),
      tools: billing.tools,
      stopWhen: isStepCount(5),
    });
    const result = await agent.generate({ prompt: 'Charge Jo $7.' });
    expect(result.text).toBe('Charged Jo.');
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(billing.stats.executions).toBe(1);
  });

  it('keeps name, description, schemas and hooks; leaves tools without execute as they are', async () => {
    const { tool } = await import('ai');
    const { z } = await import('zod');
    const { tools } = billingTools(world.plainStripe());
    const clientSide = tool({ description: 'Ask the user', inputSchema: z.object({ q: z.string() }) });
    const all: ToolSet = { ...tools, ask: clientSide };
    const wrapped = guardTools(all, { guard: guard(), key: world.rootToken });
    expect(wrapped.ask).toBe(clientSide);
    expect(wrapped.charge?.description).toBe(tools.charge.description);
    expect(wrapped.charge?.inputSchema).toBe(tools.charge.inputSchema);
    expect(wrapped.charge?.execute).not.toBe(tools.charge.execute);
  });

  it("sends a refusal to the model as JSON, and the tool's own output through its toModelOutput", async () => {
    const { tool } = await import('ai');
    const { z } = await import('zod');
    const stripe = world.governedStripe();
    const ids = await world.customers('kim');
    const charge2 = tool({
      inputSchema: z.object({ amountCents: z.number() }),
      execute: async ({ amountCents }) => {
        const paid = await stripe.charges.create({
          amount: amountCents,
          currency: 'usd',
          customer: ids.kim as string,
        });
        return { chargeId: paid.id };
      },
      toModelOutput: ({ output }) => ({ type: 'text', value: `charged ${output.chargeId}` }),
    });
    const tools = guardTools({ charge: charge2 }, { guard: guard(), key: world.rootToken });
    const model = scriptedModel([
      { calls: [{ tool: 'charge', input: { amountCents: 500 } }] },
      { calls: [{ tool: 'charge', input: { amountCents: 99_999 } }] },
      { text: 'ok' },
    ]);
    await drive('generateText', { model, tools, prompt: 'go' });
    expect(promptOf(model, 1)).toMatch(/charged ch_/);
    expect(promptOf(model, 2)).toContain('"refused":true');
  });

  it('checkpoints a tool that streams preliminary outputs on its final one', async () => {
    const { tool } = await import('ai');
    const { z } = await import('zod');
    let runs = 0;
    const progress = tool({
      inputSchema: z.object({ job: z.string() }),
      async *execute({ job }) {
        runs++;
        yield { job, status: 'working' };
        yield { job, status: 'done' };
      },
    });
    const tools = guardTools({ progress }, { guard: guard(), key: world.rootToken });
    const call: Turn = { calls: [{ tool: 'progress', input: { job: 'j1' } }] };
    const outcome = await drive('generateText', { model: scriptedModel([call, call]), tools, prompt: 'go' });
    expect(toolOutcomes(outcome).map((o) => o.output)).toEqual([
      { job: 'j1', status: 'done' },
      { job: 'j1', status: 'done' },
    ]);
    expect(runs).toBe(1);
  });
});
