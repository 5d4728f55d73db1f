import { Agent, RunState, tool } from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { currentRun, isToolRefusal, TOKEN_PREFIX } from '@spendguard/core';
import { BillingWorld, type ChargeInput, chargeCall, FAKE_STRIPE_SECRET } from '@spendguard/testkit/adapters';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { VendorRequest } from './approval.ts';
import { guardTools } from './guard-tools.ts';
import { billingTools } from './testing/billing.ts';
import { drive } from './testing/drive.ts';
import { scriptedAgent } from './testing/scripted-agent.ts';

/**
 * What the adapter takes from the model — the arguments of a call, its call id — and from the app
 * — the run's context — through the SDK's real loop: nothing of it charges what the policy
 * refuses, charges twice, crashes the run or pollutes a prototype; and no secret comes back out.
 */

const world = new BillingWorld();
let customer: string;
beforeAll(async () => {
  await world.start();
  customer = (await world.customers('hostile')).hostile as string;
});
afterAll(() => world.stop());

function guardedCharge() {
  const { tools, stats } = billingTools(world.governedStripe());
  return { tools: guardTools(tools, { guard: world.guard, key: world.rootToken }), stats };
}

/** An agent whose model sends exactly these function calls, then answers. */
function agentSending(tools: Agent['tools'], calls: { args: string; callId: string }[]) {
  const model = new ScriptedModel([
    calls.map((c) => functionCall('charge', c.args, { callId: c.callId })),
    [assistantMessage('Done.')],
  ]);
  return new Agent({ name: 'billing-agent', model, tools });
}

const SDK_PARSE_ERROR = 'An error occurred while parsing tool arguments. Please try again with valid JSON.';

/** Whether a charge's arguments are what the policy allows (USD, at most $500, a real customer). */
function allowed(args: unknown): boolean {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) return false;
  const a = args as Record<string, unknown>;
  return (
    a.customer === customer &&
    a.currency === 'usd' &&
    Number.isInteger(a.amountCents) &&
    (a.amountCents as number) > 0 &&
    (a.amountCents as number) <= 50_000 &&
    typeof a.orderId === 'string'
  );
}

const prototypes = () =>
  JSON.stringify([Object.getOwnPropertyNames(Object.prototype).sort(), Object.keys({})]);

describe('hostile model output through the real SDK loop', () => {
  it('any arguments, sent twice in one turn: at most one charge, only what the policy allows, every call answered', async () => {
    const before = prototypes();
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.jsonValue(),
    );
    // Mostly a charge that could pass, each field sometimes hostile, plus keys that reach prototypes.
    const likely = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
      fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: bad });
    const chargeArgs = fc
      .tuple(
        fc.record({
          customer: likely(fc.constant('real'), fc.string()),
          amountCents: likely(
            fc.integer({ min: 1, max: 60_000 }),
            fc.oneof(fc.integer({ min: -10, max: 0 }), fc.double(), fc.string(), fc.constant(1e308)),
          ),
          currency: likely(fc.constant('usd'), fc.constantFrom('eur', 'USD', '', 'usd\u0000')),
          orderId: likely(fc.string(), value),
        }),
        fc.record(
          {
            note: fc.oneof(fc.string(), fc.constant(null)),
            // A computed key: an own `__proto__` member in the JSON, not this literal's prototype.
            ['__proto__']: fc.record({ polluted: fc.constant(true) }),
            constructor: value,
          },
          { requiredKeys: [] },
        ),
      )
      .map(([fields, extra]) => ({ ...extra, ...fields }));
    const args = fc.oneof(
      {
        weight: 4,
        arbitrary: chargeArgs.map((a) => JSON.stringify(a.customer === 'real' ? { ...a, customer } : a)),
      },
      { weight: 1, arbitrary: fc.string() }, // not JSON at all
      { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    );
    let n = 0;
    let charged = 0;
    let protoKeys = 0;
    await fc.assert(
      fc.asyncProperty(args, async (text) => {
        if (text.includes('"__proto__"')) protoKeys++;
        const { tools } = guardedCharge();
        const charges = world.fake.ledger.count('charge');
        const agent = agentSending(tools, [
          { args: text, callId: `call_h${++n}a` },
          { args: text, callId: `call_h${n}b` },
        ]);
        const outcome = await drive('run', { agent, input: 'Charge.' });
        expect(outcome.error).toBeUndefined();
        const made = world.fake.ledger.count('charge') - charges;
        expect(made).toBeLessThanOrEqual(1);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        if (made === 1) expect(allowed(parsed)).toBe(true);
        charged += made;
        expect(outcome.outputs).toHaveLength(parsed === undefined ? 0 : 2);
        for (const { output } of outcome.outputs) {
          const ok = isToolRefusal(output) || (output as { chargeId?: string }).chargeId?.startsWith('ch_');
          expect(ok, JSON.stringify(output)).toBe(true);
        }
        // Not JSON: the SDK's own parser answered, before the tool was ever invoked.
        if (parsed === undefined) {
          const result = outcome.result?.newItems.filter((i) => i.type === 'tool_call_output_item') ?? [];
          expect(result.map((i) => (i.rawItem as { output?: { text?: string } }).output?.text)).toEqual([
            SDK_PARSE_ERROR,
            SDK_PARSE_ERROR,
          ]);
        }
      }),
      { numRuns: 40 },
    );
    // The property reached the vendor, not only refusals, and sent own `__proto__` members.
    expect(charged).toBeGreaterThan(0);
    expect(protoKeys).toBeGreaterThan(0);
    expect(prototypes()).toBe(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('any arguments, with an approval mapping written for valid input: the run never rejects, nothing above $400 runs unapproved', async () => {
    // The mapping as an app writes it, for the input its schema allows: it throws when the model
    // sends a customer that is not a string.
    const { tools, stats } = billingTools(world.governedStripe());
    const guarded = guardTools(tools, {
      guard: world.guard,
      key: world.rootToken,
      approval: {
        charge: ((input: ChargeInput) => ({
          vendor: 'stripe',
          method: 'POST',
          path: '/v1/charges',
          params: { amount: input.amountCents, currency: input.currency, customer: input.customer.trim() },
        })) as (input: never) => VendorRequest,
      },
    });
    const args = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .record({
          customer: fc.oneof({ weight: 3, arbitrary: fc.constant(customer) }, fc.jsonValue()),
          amountCents: fc.oneof(fc.integer({ min: 1, max: 60_000 }), fc.string(), fc.constant(null)),
          currency: fc.constantFrom('usd', 'eur'),
          orderId: fc.string(),
        })
        .map((a) => JSON.stringify(a)),
    );
    let n = 0;
    let asked = 0;
    let mappingFailed = 0;
    await fc.assert(
      fc.asyncProperty(args, async (text) => {
        const charged = world.chargedUsd();
        const agent = agentSending(guarded, [{ args: text, callId: `call_ap${++n}` }]);
        const outcome = await drive('run', { agent, input: 'Charge.' });
        expect(outcome.error).toBeUndefined();
        const parsed = JSON.parse(text) as unknown;
        const isObject = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
        if (isObject && typeof (parsed as { customer?: unknown }).customer !== 'string') mappingFailed++;
        for (const item of outcome.interruptions) {
          asked++;
          // Asked for a charge above the line, or by the SDK itself for arguments that are not an object.
          if (isObject) expect((parsed as { amountCents: unknown }).amountCents).toBeGreaterThan(40_000);
          expect(item.arguments).toBe(text);
        }
        // Whatever ran without a human's yes stayed at or under the approval line.
        expect(world.chargedUsd() - charged).toBeLessThanOrEqual(400);
        for (const { output } of outcome.outputs) {
          const ok = isToolRefusal(output) || (output as { chargeId?: string }).chargeId?.startsWith('ch_');
          expect(ok, JSON.stringify(output)).toBe(true);
        }
      }),
      { numRuns: 60, examples: [['null'], ['{}'], ['{"customer":7,"amountCents":45000,"currency":"usd"}']] },
    );
    // The property reached the approval flow, the tool, and the mapping's failure.
    expect(asked).toBeGreaterThan(0);
    expect(stats.executions).toBeGreaterThan(0);
    expect(mappingFailed).toBeGreaterThan(0);
  });

  it('any call ids: each call answered, one charge, audit rows carry them bounded', async () => {
    const ids = fc.uniqueArray(
      fc.oneof(fc.string({ minLength: 1 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 3000 })),
      {
        minLength: 2,
        maxLength: 2,
      },
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(ids, async ([a, b]) => {
        const { tools } = guardedCharge();
        const seqBefore = (await world.guard.audit.list()).at(-1)?.seq ?? 0;
        const charges = world.fake.ledger.count('charge');
        const args = JSON.stringify(chargeCall(customer, 100, `ord_ids_${++n}`).input);
        const agent = agentSending(tools, [
          { args, callId: a as string },
          { args, callId: b as string },
        ]);
        const outcome = await drive('run', { agent, input: 'Charge.' });
        expect(outcome.error).toBeUndefined();
        expect(outcome.outputs.map((o) => o.toolCallId).sort()).toEqual([a, b].sort());
        expect(world.fake.ledger.count('charge') - charges).toBe(1);
        const rows = await world.guard.audit.list({ afterSeq: seqBefore });
        for (const row of rows) {
          expect(row.toolCallId).toMatch(/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]{1,128}$/u);
          expect([a, b].some((id) => row.toolCallId === id || row.toolCallId?.startsWith('sha256:'))).toBe(
            true,
          );
        }
      }),
      { numRuns: 30 },
    );
  });

  it("any run context the app passes: the run goes on, a context's runId is bounded, nothing is charged twice", async () => {
    const context = fc.oneof(
      fc.anything({ withNullPrototype: true, withObjectString: true }),
      fc.record({
        runId: fc.oneof(fc.string({ unit: 'binary', maxLength: 500 }), fc.anything()),
        customer: fc.string(),
      }),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(context, async (ctx) => {
        const { tools } = guardedCharge();
        const seqBefore = (await world.guard.audit.list()).at(-1)?.seq ?? 0;
        const charges = world.fake.ledger.count('charge');
        const { agent } = scriptedAgent(
          [
            {
              calls: [chargeCall(customer, 100, `ord_ctx_${++n}`), chargeCall(customer, 100, `ord_ctx_${n}`)],
            },
          ],
          { tools },
        );
        const outcome = await drive('run', { agent, input: 'Charge.', context: ctx });
        expect(outcome.error).toBeUndefined();
        expect(world.fake.ledger.count('charge') - charges).toBeLessThanOrEqual(1);
        for (const { output } of outcome.outputs) {
          expect(isToolRefusal(output) || (output as { chargeId?: string }).chargeId?.startsWith('ch_')).toBe(
            true,
          );
        }
        for (const row of await world.guard.audit.list({ afterSeq: seqBefore })) {
          expect([...(row.runId ?? '')].length).toBeLessThanOrEqual(128);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('no secret comes back out', () => {
  it('no vendor secret or vault-key token in any tool output, model input, error, stored state or audit row', async () => {
    await world.reset();
    const ids = await world.customers('sam');
    const seen: string[] = [];
    const runTokens = new Set<string>();
    const stripe = world.governedStripe();
    // A tool that returns Stripe's whole answer, and throws Stripe's errors as they are.
    const raw = tool({
      name: 'charge',
      description: 'Charge and return what Stripe said.',
      parameters: z.object({ amountCents: z.number().int(), orderId: z.string() }),
      execute: async ({ amountCents, orderId }) => {
        const token = currentRun()?.key;
        if (token) runTokens.add(token);
        const paid = await stripe.charges.create({
          amount: amountCents,
          currency: 'usd',
          customer: ids.sam as string,
          metadata: { order_id: orderId },
        });
        return JSON.parse(JSON.stringify(paid)) as unknown;
      },
    });
    const [guarded] = guardTools([raw], {
      guard: world.guard,
      key: world.rootToken,
      runId: 'secret-scan',
      approval: {
        charge: (input: { amountCents: number }) => ({
          vendor: 'stripe',
          method: 'POST',
          path: '/v1/charges',
          params: { amount: input.amountCents, currency: 'usd', customer: ids.sam },
        }),
      },
    });
    const tools = [guarded as typeof raw];
    const call = (amountCents: number, orderId: string) => ({
      tool: 'charge',
      input: { amountCents, orderId },
    });
    const record = async (outcome: Awaited<ReturnType<typeof drive>>, inputs: string[]) => {
      seen.push(JSON.stringify(outcome.outputs), ...inputs);
      if (outcome.error) {
        const e = outcome.error as Error & { error?: Error };
        seen.push(e.message, String(e.stack), String(e), e.error?.message ?? '', String(e.error?.stack));
      }
      if (outcome.result) seen.push(outcome.result.state.toString());
    };

    // Stripe echoes the secret it received, in a success and in a decline.
    const amount = (cents: string) => (req: { params: unknown }) =>
      (req.params as { amount?: string }).amount === cents;
    world.fake.faults.inject({ kind: 'echo_credential', encoding: 'raw' }, { match: amount('700') });
    world.fake.faults.inject({ kind: 'echo_credential', encoding: 'base64' }, { match: amount('800') });
    world.fake.faults.inject({ kind: 'card_decline' }, { match: amount('800') });
    const first = scriptedAgent(
      [
        { calls: [call(700, 'ord_1')] }, // echoed in the answer
        { calls: [call(800, 'ord_2')] }, // declined, the decline echoing it
        { calls: [call(700, 'ord_1')] }, // replayed
        { calls: [call(90_000, 'ord_3')] }, // refused by the policy
        { calls: [call(45_000, 'ord_4')] }, // needs approval: the run stops for it
      ],
      { tools },
    );
    const asked = await drive('run', { agent: first.agent, input: 'Charge Sam.' });
    await record(asked, first.scripted.inputs());
    expect(asked.interruptions).toHaveLength(1);
    const state = await RunState.fromString(first.agent, asked.result?.state.toString() as string);
    state.approve(state.getInterruptions()[0] as never);
    const approved = await drive('run', { agent: first.agent, input: state });
    await record(approved, first.scripted.inputs());

    // Then the run key is revoked: the run stops; then the root: no run key at all.
    await world.revokeRun('secret-scan');
    const stopped = scriptedAgent([{ calls: [call(100, 'ord_5')] }], { tools });
    const outcome = await drive('stream', { agent: stopped.agent, input: 'Charge Sam.' });
    await record(outcome, stopped.scripted.inputs());
    await world.guard.keys.revoke(world.rootId);
    const [fresh] = guardTools([raw], { guard: world.guard, key: world.rootToken, runId: 'after-root' });
    const orphan = scriptedAgent([{ calls: [call(100, 'ord_6')] }], { tools: [fresh as typeof raw] });
    const invalid = await drive('run', { agent: orphan.agent, input: 'Charge Sam.' });
    await record(invalid, orphan.scripted.inputs());
    seen.push(JSON.stringify(await world.guard.audit.list()));

    // The scenario did what it says: charged, declined, replayed, refused, approved, stopped twice.
    expect(world.fake.ledger.count('charge')).toBe(2);
    const decisions = (await world.guard.audit.list()).map((r) => `${r.vendor}:${r.decision}`);
    expect(decisions).toEqual(
      expect.arrayContaining(['tool:replayed', 'stripe:failed', 'stripe:denied', 'tool:denied']),
    );
    expect((outcome.error as Error).name).toBe('ToolCallError');
    expect(String((invalid.error as Error).message)).toMatch(/invalid|revoked/);
    expect(runTokens.size).toBe(1);

    const text = seen.join('\n');
    expect(text.length).toBeGreaterThan(5_000);
    expect(text).toContain('[redacted]'); // the echoes were there, and hidden
    for (const secret of [FAKE_STRIPE_SECRET, world.rootToken, ...runTokens]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(Buffer.from(secret).toString('base64'));
      expect(text).not.toContain(encodeURIComponent(secret));
    }
    expect(text).not.toContain(TOKEN_PREFIX);
  });
});
