import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { type BaseMessage, HumanMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import type { EchoEncoding } from '@spendguard/testkit';
import { BillingWorld, chargeCall, FAKE_STRIPE_SECRET } from '@spendguard/testkit/adapters';
import type Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { guardTools } from './guard-tools.ts';
import { spendguardMiddleware } from './middleware.ts';
import { chargeInput } from './testing/billing.ts';
import { type BillingGraph, billingAgent, toolNodeGraph } from './testing/graphs.ts';
import { type ScriptedModel, scriptedModel } from './testing/scripted-model.ts';

// The fake Stripe echoes the secret it received (in every encoding) into its answers; a key is
// revoked mid-run. Nothing the adapter lets out — ToolMessages, what the model reads, errors,
// drain reasons, audit rows — carries the vendor secret or any vault-key token.

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

/** A tool that returns Stripe's whole answer (as careless tools do), echo and all. */
function verboseCharge(stripe: Stripe) {
  return tool(
    async ({ customer, amountCents, currency, orderId }) =>
      stripe.charges.create({ amount: amountCents, currency, customer, metadata: { order_id: orderId } }),
    { name: 'charge', description: 'Charge (cents).', schema: chargeInput },
  );
}

/** The secret as a vendor may echo it, and as JSON writes each of those (once, twice). */
function needles(): string[] {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const encoded = [
    FAKE_STRIPE_SECRET,
    encodeURIComponent(FAKE_STRIPE_SECRET),
    b64(FAKE_STRIPE_SECRET),
    b64(`:${FAKE_STRIPE_SECRET}`),
  ];
  const json = (text: string) => JSON.stringify(text).slice(1, -1);
  return [...encoded.flatMap((text) => [text, json(text), json(json(text))]), 'sk_sg_'];
}

function everythingOut(
  messages: BaseMessage[],
  model: ScriptedModel,
  errors: unknown[],
  rows: unknown[],
): string {
  const shown = errors.map((e) =>
    [inspect(e, { depth: 10 }), e instanceof Error ? `${e.message}\n${e.stack}` : String(e)].join('\n'),
  );
  return [
    JSON.stringify(messages),
    inspect(messages, { depth: 10 }),
    ...model.inputs(),
    ...shown,
    JSON.stringify(rows),
  ].join('\n');
}

type Driver = 'tool-node' | 'create-agent';
const DRIVERS: Driver[] = ['tool-node', 'create-agent'];
const ENCODINGS: EchoEncoding[] = ['raw', 'url', 'base64', 'basic'];

function graphFor(driver: Driver, model: ScriptedModel, threadId: string): BillingGraph {
  const charge = verboseCharge(world.governedStripe());
  const options = { guard: world.guard, key: world.rootToken };
  return driver === 'tool-node'
    ? toolNodeGraph(model, guardTools([charge], options))
    : billingAgent(model, [charge], { middleware: [spendguardMiddleware({ ...options, runId: threadId })] });
}

describe.each(DRIVERS)('%s: nothing that comes out carries a secret', (driver) => {
  it.each(ENCODINGS)(
    'Stripe echoes the secret (%s) on a success, a 429 and a 500; then the key is revoked',
    async (encoding) => {
      const ids = await world.customers('ada');
      const threadId = `secrets-${randomUUID()}`;
      world.fake.faults.inject({ kind: 'echo_credential', encoding }, { times: 3 });
      world.fake.faults.inject(
        { kind: 'rate_limit' },
        { match: (r) => (r.params as { amount?: string }).amount === '200' },
      );
      world.fake.faults.inject(
        { kind: 'fail_after_act' },
        { match: (r) => (r.params as { amount?: string }).amount === '300' },
      );
      const model = scriptedModel(async (n) => {
        if (n === 3) await world.revokeRun(threadId);
        const amounts = [100, 200, 300, 400];
        return n < 4 ? { calls: [chargeCall(ids.ada, amounts[n] as number, `ord_${n}`)] } : { text: 'Done.' };
      });
      const graph = graphFor(driver, model, threadId);
      const errors: unknown[] = [];
      await graph
        .invoke({ messages: [new HumanMessage('Charge Ada.')] }, { configurable: { thread_id: threadId } })
        .catch((e: unknown) => errors.push(e));
      const state = await graph.getState({ configurable: { thread_id: threadId } });
      const messages = (state.values as { messages: BaseMessage[] }).messages;
      const rows = await world.guard.audit.list();
      // The echoes got through to spendguard and were redacted: the scan is not passing on nothing.
      const text = everythingOut(messages, model, errors, rows);
      expect(text).toContain('[redacted]');
      expect(text).toContain('key_revoked');
      for (const needle of needles()) expect(text.includes(needle), `${needle} came out`).toBe(false);
    },
  );
});
