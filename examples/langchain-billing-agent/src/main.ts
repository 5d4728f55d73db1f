/**
 * A billing agent on LangChain v1's `createAgent` (a LangGraph graph with a checkpointer) whose
 * tools are governed by `spendguardMiddleware`.
 *
 *   pnpm --filter @spendguard/langchain-billing-agent start
 *
 * Offline by default: LangChain's own `fakeModel()` plays the agent, against a fake Stripe on
 * loopback, with a SQLite store in a temp directory. With `STRIPE_SECRET_KEY` (use a test-mode key)
 * the charges go to your real Stripe account; with `OPENAI_API_KEY` a real model
 * (`@langchain/openai`, `OPENAI_MODEL`, default `gpt-4.1-mini`) plays the agent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { tool } from '@langchain/core/tools';
import { Command, MemorySaver } from '@langchain/langgraph';
import { ChatOpenAI } from '@langchain/openai';
import { type AuditRow, createGuard, type Guard, SqliteStore } from '@spendguard/core';
import { createGovernedStripe } from '@spendguard/core/stripe';
import {
  type ApprovalInterrupt,
  refusalOf,
  runStopOf,
  spendguardMiddleware,
  type VendorRequest,
} from '@spendguard/langchain';
import { BILLING_AGENT, BillingWorld, billingPolicy, chargeOrder } from '@spendguard/testkit/adapters';
import { createAgent, toolRetryMiddleware } from 'langchain';
import type Stripe from 'stripe';
import { z } from 'zod';

const chargeInput = z.object({
  customer: z.string().describe('the Stripe customer id (cus_…)'),
  amountCents: z.number().int().describe('the amount in cents'),
  currency: z.string().default('usd').describe('three-letter currency code'),
  orderId: z.string().describe('the order this charge pays'),
});

/**
 * The agent's tool as any LangChain app writes it: charge the order, then email the receipt. The
 * mail provider is down for the first receipt of each order in `outage`: the tool throws after the
 * charge went through, and `toolRetryMiddleware` runs it again.
 */
function billingTool(stripe: Stripe, outage: Set<string>) {
  return tool(
    async (input) => {
      const paid = await chargeOrder(stripe, input);
      if (outage.delete(input.orderId)) throw new Error('the mail provider timed out sending the receipt');
      return paid;
    },
    {
      name: 'charge',
      description: 'Charge a customer for an order (cents) and email the receipt.',
      schema: chargeInput,
    },
  );
}

/** The Stripe call `charge` makes: spendguard checks the policy's approval rule (`above: 400`) against it. */
function chargeRequest(input: z.infer<typeof chargeInput>): VendorRequest {
  return {
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: input.amountCents, currency: input.currency, customer: input.customer },
  };
}

/** The agent: `createAgent` with spendguard first (so retries run inside its checkpoint), then the retry. */
function billingAgent(
  model: BaseChatModel,
  stripe: Stripe,
  guard: Guard,
  key: string,
  outage = new Set<string>(),
) {
  const charge = billingTool(stripe, outage);
  return createAgent({
    model,
    tools: [charge],
    name: 'billing-agent',
    checkpointer: new MemorySaver(),
    middleware: [
      spendguardMiddleware({
        guard,
        key,
        tools: [charge],
        approval: { charge: chargeRequest },
        approver: () => 'ops@example.com (console)',
      }),
      toolRetryMiddleware({ maxRetries: 2, initialDelayMs: 0, jitter: false }),
    ],
  });
}

type Agent = ReturnType<typeof billingAgent>;

/** Print what the model reads from each tool call since `from`. */
function printToolResults(messages: BaseMessage[], from: number): void {
  for (const m of messages.slice(from)) {
    if (!ToolMessage.isInstance(m)) continue;
    const refusal = refusalOf(m);
    if (refusal) console.log(`    ${m.name} → refused (${refusal.code}): ${refusal.reason}`);
    else {
      const paid = JSON.parse(String(m.content)) as { chargeId: string; amountCents: number; status: string };
      console.log(`    ${m.name} → ${paid.status} ${paid.chargeId} ${paid.amountCents} cents`);
    }
  }
  const last = messages.at(-1);
  if (AIMessage.isInstance(last) && typeof last.content === 'string' && last.content) {
    console.log(`  model: ${last.content}`);
  }
}

/** One user turn on the thread; prints the tool results and returns the thread's messages. */
async function turn(agent: Agent, threadId: string, prompt: string | null): Promise<BaseMessage[]> {
  const config = { configurable: { thread_id: threadId } };
  const before =
    ((await agent.graph.getState(config)).values as { messages?: BaseMessage[] }).messages?.length ?? 0;
  const input = prompt === null ? null : { messages: [new HumanMessage(prompt)] };
  const result = await agent.invoke(input as never, config);
  printToolResults(result.messages, before);
  return result.messages;
}

function printAudit(rows: AuditRow[]): void {
  console.log('\n  audit (hash-chained):');
  for (const r of rows) {
    const cost = r.actualCostUsd === null ? '' : ` $${r.actualCostUsd.toFixed(2)}`;
    const approved = r.message?.startsWith('approved by') ? ` (${r.message})` : '';
    console.log(
      `    #${r.seq} ${r.decision.padEnd(14)} ${r.code.padEnd(18)} ${(r.operation ?? '').padEnd(20)}${cost.padEnd(9)} run=${r.runId} call=${r.toolCallId}${approved}`,
    );
  }
}

/** The fake Stripe and a guard over a SQLite store in a temp directory; `close()` removes them. */
async function offlineWorld(): Promise<{ world: BillingWorld; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'spendguard-langchain-example-'));
  const store = new SqliteStore({ file: join(dir, 'spendguard.db') });
  const world = new BillingWorld({ store, credentialEnv: 'SPENDGUARD_EXAMPLE_STRIPE_KEY' });
  await world.start();
  return {
    world,
    async close() {
      await world.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Offline: the fake model plays a thread with a double-fired charge, an illegal one, a receipt
 * failure retried by `toolRetryMiddleware`, a charge that needs a human's approval, and a revoked key.
 */
async function runOffline(): Promise<void> {
  const { world, close } = await offlineWorld();
  try {
    const ids = await world.customers('ada', 'bob');
    const ada = ids.ada as string;
    const threadId = `billing-thread-${Date.now().toString(36)}`;
    const call = (amountCents: number, orderId: string, customer = ada) => ({
      name: 'charge',
      args: { customer, amountCents, currency: 'usd', orderId },
    });
    const model = fakeModel()
      .respondWithTools([call(4999, 'ord_1001'), call(4999, 'ord_1001'), call(90_000, 'ord_1002', ids.bob)])
      .respond(new AIMessage("Charged Ada $49.99 once; Bob's $900 was refused."))
      .respondWithTools([call(2000, 'ord_1003')])
      .respond(new AIMessage('Charged Ada $20.00 and sent the receipt.'))
      .respondWithTools([call(45_000, 'ord_1004')])
      .respond(new AIMessage('Charged Ada $450.00 after approval.'))
      .respondWithTools([call(1500, 'ord_1005')])
      .respond(new AIMessage('Charged Ada $15.00.'));
    const outage = new Set(['ord_1003']);
    const agent = billingAgent(model, world.governedStripe(), world.guard, world.rootToken, outage);
    const charges = () =>
      `Stripe saw ${world.fake.ledger.count('charge')} charges, $${(world.fake.ledger.moneyMoved('usd') / 100).toFixed(2)} in all.`;

    console.log('1. The model charges Ada twice in one turn (parallel calls) and tries $900 for Bob.');
    await turn(agent, threadId, 'Charge Ada $49.99 for order 1001 and Bob $900 for order 1002.');
    console.log(`  ${charges()}`);

    console.log(
      '\n2. Ada $20: the charge goes through, the receipt email fails, toolRetryMiddleware runs the tool again.',
    );
    await turn(agent, threadId, 'Charge Ada $20 for order 1003 and email the receipt.');
    const resent = (await world.guard.audit.list()).filter(
      (r) => r.vendor === 'stripe' && r.decision === 'replayed',
    );
    console.log(
      `  the retried attempt's Stripe call: ${resent.length === 1 ? 'replayed, not sent again' : 'sent again'}`,
    );
    console.log(`  ${charges()}`);

    console.log(
      "\n3. Ada $450: above the policy's $400, so the call pauses with interrupt() before it runs.",
    );
    const config = { configurable: { thread_id: threadId } };
    const paused = await agent.invoke(
      { messages: [new HumanMessage('Charge Ada $450 for order 1004.')] },
      config,
    );
    const [asked] = (paused as { __interrupt__?: { value: ApprovalInterrupt }[] }).__interrupt__ ?? [];
    for (const a of asked?.value.actionRequests ?? []) {
      console.log(`    approval requested: ${a.name}(${JSON.stringify(a.args)}): ${a.description}`);
    }
    console.log(`  ${charges()} Nothing runs until a human answers.`);
    console.log('  the operator approves: Command({ resume: { decisions: [{ type: "approve" }] } })');
    const before = paused.messages.length;
    const approved = await agent.invoke(
      new Command({ resume: { decisions: [{ type: 'approve' }] } }),
      config,
    );
    printToolResults(approved.messages, before);
    console.log(`  ${charges()}`);

    console.log("\n4. An operator revokes the thread's run key; the agent tries to charge again.");
    await world.revokeRun(threadId);
    const stopped = await turn(agent, threadId, 'Charge Ada $15 for order 1005.');
    console.log(`  the run stopped: ${runStopOf(stopped)?.message} (model calls made: ${model.callCount})`);
    await turn(agent, threadId, 'Please try once more.');
    console.log(`  the thread asked again: still stopped (model calls made: ${model.callCount})`);
    console.log(`  ${charges()}`);

    printAudit(await world.guard.audit.list());
    const verdict = await world.guard.audit.verify();
    console.log(`  audit chain verified: ${JSON.stringify(verdict)}`);
  } finally {
    await close();
  }
}

/** With real keys: a real model (OpenAI) and/or real Stripe (test mode), one agent turn. */
async function runLive(openAiModel: string | undefined, stripeKey: string | undefined): Promise<void> {
  let guard: Guard;
  let key: string;
  let stripe: Stripe;
  let customer: string;
  let close = async () => {};
  if (stripeKey) {
    guard = createGuard({ policies: billingPolicy('STRIPE_SECRET_KEY') }); // SQLite under .spendguard/
    const root = await guard.keys.issueRoot({ policy: BILLING_AGENT, name: 'langchain-billing-agent' });
    key = root.token;
    const admin = createGovernedStripe({ guard, key });
    customer = (await admin.customers.create({ name: 'spendguard example', source: 'tok_visa' })).id;
    stripe = createGovernedStripe({ guard });
    close = () => guard.close();
  } else {
    const offline = await offlineWorld();
    guard = offline.world.guard;
    key = offline.world.rootToken;
    stripe = offline.world.governedStripe();
    customer = (await offline.world.customers('ada')).ada as string;
    close = offline.close;
  }
  const args = { customer, amountCents: 1234, currency: 'usd', orderId: 'ord_live_1' };
  const model: BaseChatModel = openAiModel
    ? new ChatOpenAI({ model: openAiModel })
    : fakeModel()
        .respondWithTools([
          { name: 'charge', args },
          { name: 'charge', args },
        ])
        .respond(new AIMessage('Charged $12.34 once.'));
  try {
    const agent = billingAgent(model, stripe, guard, key);
    await turn(
      agent,
      `live-${Date.now().toString(36)}`,
      `Charge customer ${customer} $12.34 in usd for order ord_live_1. To be safe, call the charge tool twice in parallel with the same arguments.`,
    );
    printAudit(await guard.audit.list());
  } finally {
    await close();
  }
}

const openAiModel = process.env.OPENAI_API_KEY ? (process.env.OPENAI_MODEL ?? 'gpt-4.1-mini') : undefined;
const stripeKey = process.env.STRIPE_SECRET_KEY;
if (openAiModel || stripeKey) {
  console.log(`live: model ${openAiModel ?? 'offline'}, Stripe ${stripeKey ? 'real (your key)' : 'fake'}\n`);
  await runLive(openAiModel, stripeKey);
} else {
  console.log('spendguard + LangChain createAgent billing agent (offline: fakeModel, fake Stripe)\n');
  await runOffline();
}
