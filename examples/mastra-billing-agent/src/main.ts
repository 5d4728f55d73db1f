/**
 * A billing agent on Mastra whose tools go through spendguard.
 *
 *   pnpm --filter @spendguard/mastra-billing-agent start
 *
 * Offline by default: the AI SDK's mock model plays the agent (a Mastra `Agent` takes it as its
 * `model`), against a fake Stripe on loopback, with a SQLite store in a temp directory. With
 * `OPENAI_API_KEY` a real model plays it through Mastra's model router (`openai/gpt-4o-mini`, or
 * `AI_MODEL`); with `STRIPE_SECRET_KEY` (use a test-mode key) the charges go to your Stripe account.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '@mastra/core/agent';
import type { MastraModelConfig } from '@mastra/core/llm';
import { noopLogger } from '@mastra/core/logger';
import { Mastra } from '@mastra/core/mastra';
import { InMemoryStore } from '@mastra/core/storage';
import { Memory } from '@mastra/memory';
import { type AuditRow, createGuard, type Guard, SqliteStore } from '@spendguard/core';
import { guardTools, isToolRefusal, spendguardKillSwitch, type VendorRequest } from '@spendguard/mastra';
import {
  type AgentRun,
  answerApproval,
  asAgentModel,
  type BillingTools,
  billingTools,
  billOrderWorkflow,
  type ChargeInput,
  drive,
  scriptedModel,
  workflowMastra,
} from '@spendguard/mastra/testing';
import {
  BILLING_AGENT,
  BillingWorld,
  billingPolicy,
  chargeCall,
  type Turn,
} from '@spendguard/testkit/adapters';
import type Stripe from 'stripe';

/**
 * The Stripe call the charge tool makes for an input: spendguard checks the policy's approval rule
 * (`approval: { above: 400 }`) against it before the tool runs, and asks Mastra for approval.
 */
function chargeRequest(input: ChargeInput): VendorRequest {
  return {
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: input.amountCents, currency: input.currency, customer: input.customer },
  };
}

/** The billing tools through spendguard: one run key per conversation thread. */
function governedTools(guard: Guard, key: string, stripe: Stripe): BillingTools {
  return guardTools(billingTools(stripe).tools, {
    guard,
    key,
    // The conversation is the run: an operator can revoke one thread's key; caps are per thread.
    runId: ({ threadId, runId }) => threadId ?? runId,
    fields: { charge: ['customer', 'amountCents', 'currency', 'orderId'] },
    approval: { charge: chargeRequest },
    approver: () => 'ops@example.com (console)',
  });
}

/** A billing agent registered in Mastra (approvals need its storage), with memory and the kill switch. */
function billingAgent(model: MastraModelConfig, tools: BillingTools): Agent {
  const storage = new InMemoryStore();
  const billing = new Agent({
    id: 'billing-agent',
    name: 'billing-agent',
    instructions: 'You bill customers with the charge tool. Amounts are in cents.',
    model,
    tools,
    memory: new Memory({ storage }),
    inputProcessors: [spendguardKillSwitch()],
  });
  return new Mastra({ agents: { billing }, storage, logger: noopLogger }).getAgent('billing');
}

/** Print each tool call of a run as the model reads it, and each approval request. */
function show(run: AgentRun): AgentRun {
  for (const call of run.calls) {
    const args = brief(call.args);
    if ('output' in call) console.log(`    ${call.toolName}(${args}) → ${brief(call.output)}`);
    else if ('error' in call) console.log(`    ${call.toolName}(${args}) → error: ${String(call.error)}`);
  }
  for (const a of run.approvals) {
    console.log(
      `    ${a.toolName}(${brief(a.args)}) → approval requested (run ${a.runId}, call ${a.toolCallId})`,
    );
  }
  return run;
}

function brief(value: unknown): string {
  if (isToolRefusal(value)) return `refused (${value.code}): ${value.reason}`;
  const o = (value ?? {}) as Record<string, unknown>;
  if ('chargeId' in o) return `${o.status} ${o.chargeId} ${o.amountCents} ${o.currency}`;
  return Object.entries(o)
    .filter(([k]) => k !== 'currency' && k !== 'customer')
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
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
  const dir = mkdtempSync(join(tmpdir(), 'spendguard-mastra-example-'));
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
 * Offline: the mock model plays a conversation with a double-fired charge, an illegal one, a
 * provider outage, a charge that needs a human's approval and a revoked key; then a workflow step
 * whose retry would charge twice.
 */
async function runOffline(): Promise<void> {
  const { world, close } = await offlineWorld();
  try {
    const ids = await world.customers('ada', 'bob');
    const thread = `chat-${Date.now().toString(36)}`;
    const memory = { thread, resource: 'ops-console' };
    const tools = governedTools(world.guard, world.rootToken, world.governedStripe());
    const turns: Turn[] = [
      { calls: [chargeCall(ids.ada, 4999, 'ord_1001'), chargeCall(ids.ada, 4999, 'ord_1001')] },
      { calls: [chargeCall(ids.bob, 90_000, 'ord_1002')] },
      { fails: new Error('503 Service Unavailable from the model provider') },
      // the retried generate() starts over
      { calls: [chargeCall(ids.ada, 4999, 'ord_1001')] },
      { calls: [chargeCall(ids.bob, 9_000, 'ord_1002')] },
      { text: 'Charged Ada $49.99 and Bob $90.00.' },
      // 2.
      { calls: [chargeCall(ids.ada, 45_000, 'ord_1003')] },
      { text: 'Charged Ada $450.00.' },
      // 3. (after the operator revoked the thread's key)
      { calls: [chargeCall(ids.ada, 1500, 'ord_1004')] },
      { calls: [chargeCall(ids.ada, 1500, 'ord_1005')] },
      { text: 'Charged.' },
    ];
    const model = scriptedModel(turns);
    const agent = billingAgent(asAgentModel(model), tools);

    console.log('1. The model charges Ada twice in one turn, tries $900 for Bob, then its provider fails.');
    const prompt = 'Charge Ada $49.99 for order 1001 and Bob $90 for order 1002.';
    for (let attempt = 1; attempt <= 3; attempt++) {
      console.log(`  attempt ${attempt}:`);
      const run = show(await drive('generate', agent, prompt, { memory }));
      if (!run.error) {
        console.log(`  model: ${run.text}`);
        break;
      }
      console.log(`  generate() failed (${(run.error as Error).message}); the app retries it`);
    }
    const charges = world.fake.ledger.list('charge');
    console.log(
      `  Stripe saw ${charges.length} charges, $${(world.fake.ledger.moneyMoved('usd') / 100).toFixed(2)} in all.`,
    );

    console.log("\n2. The model charges Ada $450: above the policy's $400, so Mastra asks for approval.");
    const asked = show(await drive('generate', agent, 'Charge Ada $450 for order 1003.', { memory }));
    console.log(
      `  Stripe saw ${world.fake.ledger.count('charge')} charges so far: nothing runs until a human answers.`,
    );
    const [request] = asked.approvals;
    if (!request) throw new Error('expected an approval request');
    console.log('  the operator approves it: agent.approveToolCallGenerate({ runId, toolCallId })');
    const approved = await answerApproval('generate', agent, { ...request, approved: true }, { memory });
    const last = world.fake.ledger.list('charge').at(-1);
    console.log(
      `  charged ${last?.id} for $${(Number(last?.amount) / 100).toFixed(2)}; model: ${approved.text}`,
    );

    console.log("\n3. An operator revokes the conversation's run key; the agent tries to charge again.");
    await world.revokeRun(thread);
    const stopped = show(
      await drive('generate', agent, 'Charge Ada $15 for orders 1004 and 1005.', { memory }),
    );
    console.log(
      `  the run stopped: ${stopped.tripwire?.reason} (finishReason ${stopped.finishReason}, model calls made: ${model.served} of ${turns.length})`,
    );

    console.log(
      '\n4. A workflow step books each charge; the booking fails once, and `retries: 2` re-runs the step.',
    );
    let bookings = 0;
    const booked = billingTools(world.governedStripe(), {
      afterCharge: () => {
        if (++bookings === 1) throw new Error('the orders database timed out');
      },
    });
    const charge = guardTools(booked.tools, { guard: world.guard, key: world.rootToken }).charge;
    const workflows = workflowMastra({ billOrder: billOrderWorkflow(charge, { retries: 2 }) });
    const run = await workflows.getWorkflow('billOrder').createRun();
    const result = await run.start({
      inputData: { customer: ids.bob as string, amountCents: 2500, currency: 'usd', orderId: 'ord_1006' },
    });
    const paid = result.status === 'success' ? (result.result as { chargeId: string }) : undefined;
    console.log(
      `  workflow ${result.status}: the step ran ${booked.stats.executions} times, Stripe charged ${world.fake.ledger.list('charge').filter((c) => (c.metadata as { order_id: string }).order_id === 'ord_1006').length} time (${paid?.chargeId})`,
    );

    printAudit(await world.guard.audit.list());
    const verdict = await world.guard.audit.verify();
    console.log(`  audit chain verified: ${JSON.stringify(verdict)}`);
  } finally {
    await close();
  }
}

/** With real keys: a real model (Mastra's model router) and/or real Stripe (test mode), one agent turn. */
async function runLive(routerModel: string | undefined, stripeKey: string | undefined): Promise<void> {
  let guard: Guard;
  let tools: BillingTools;
  let customer: string;
  let close = async () => {};
  if (stripeKey) {
    const { createGovernedStripe } = await import('@spendguard/core/stripe');
    guard = createGuard({ policies: billingPolicy('STRIPE_SECRET_KEY') }); // SQLite under .spendguard/
    const root = await guard.keys.issueRoot({ policy: BILLING_AGENT, name: 'mastra-billing-agent' });
    const admin = createGovernedStripe({ guard, key: root.token });
    customer = (await admin.customers.create({ name: 'spendguard example', source: 'tok_visa' })).id;
    tools = governedTools(guard, root.token, createGovernedStripe({ guard }));
    close = () => guard.close();
  } else {
    const offline = await offlineWorld();
    guard = offline.world.guard;
    customer = (await offline.world.customers('ada')).ada as string;
    tools = governedTools(guard, offline.world.rootToken, offline.world.governedStripe());
    close = offline.close;
  }
  const model: MastraModelConfig =
    (routerModel as MastraModelConfig | undefined) ??
    asAgentModel(
      scriptedModel([
        { calls: [chargeCall(customer, 1234, 'ord_live_1'), chargeCall(customer, 1234, 'ord_live_1')] },
        { text: 'Charged $12.34 once.' },
      ]),
    );
  try {
    const run = show(
      await drive(
        'generate',
        billingAgent(model, tools),
        `Charge customer ${customer} $12.34 in usd for order ord_live_1. To be safe, call the charge tool twice in parallel with the same arguments.`,
        { memory: { thread: `live-${Date.now().toString(36)}`, resource: 'live-example' } },
      ),
    );
    if (run.error) console.log(`  the run failed: ${String(run.error)}`);
    console.log(`  model: ${run.text}`);
    printAudit(await guard.audit.list());
  } finally {
    await close();
  }
}

const routerModel = process.env.OPENAI_API_KEY ? (process.env.AI_MODEL ?? 'openai/gpt-4o-mini') : undefined;
const stripeKey = process.env.STRIPE_SECRET_KEY;
if (routerModel || stripeKey) {
  console.log(`live: model ${routerModel ?? 'offline'}, Stripe ${stripeKey ? 'real (your key)' : 'fake'}\n`);
  await runLive(routerModel, stripeKey);
} else {
  console.log('spendguard + Mastra billing agent (offline: mock model, fake Stripe)\n');
  await runOffline();
}
