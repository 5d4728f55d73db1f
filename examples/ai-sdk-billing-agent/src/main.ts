/**
 * A billing agent on the Vercel AI SDK whose tools go through spendguard.
 *
 *   pnpm --filter @spendguard/ai-sdk-billing-agent start
 *
 * Offline by default: the AI SDK's own mock model plays the agent, against a fake Stripe on
 * loopback, with a SQLite store in a temp directory. With `STRIPE_SECRET_KEY` (use a test-mode
 * key) the charges go to your real Stripe account; with `AI_GATEWAY_API_KEY` a real model plays
 * the agent through the AI Gateway, which ships inside `ai`. `OPENAI_API_KEY` alone needs
 * `@ai-sdk/openai`, which this workspace does not install (see the README).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guardTools, isToolRefusal, RunStoppedError, type VendorRequest } from '@spendguard/ai-sdk';
import { type BillingTools, billingTools, scriptedModel } from '@spendguard/ai-sdk/testing';
import { type AuditRow, createGuard, type Guard, SqliteStore } from '@spendguard/core';
import { createGovernedStripe } from '@spendguard/core/stripe';
import {
  BILLING_AGENT,
  BillingWorld,
  billingPolicy,
  type ChargeInput,
  chargeCall,
} from '@spendguard/testkit/adapters';
import { generateText, isStepCount, type LanguageModel, type ModelMessage, type StepResult } from 'ai';

/**
 * The Stripe call the charge tool makes for an input: spendguard checks the policy's approval rule
 * (`approval: { above: 400 }`) against it before the tool runs, and asks the AI SDK for approval.
 */
function chargeRequest(input: ChargeInput): VendorRequest {
  return {
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: input.amountCents, currency: input.currency, customer: input.customer },
  };
}

/** A tool call waiting for a human, as the AI SDK asked (`tool-approval-request`). */
interface PendingApproval {
  approvalId: string;
  toolName: string;
  input: unknown;
}

/** One generation, printing each tool result as the model reads it, and each approval request. */
async function agentTurn(
  model: LanguageModel,
  tools: BillingTools,
  prompt: string | ModelMessage[],
  abortSignal?: AbortSignal,
): Promise<{ messages: ModelMessage[]; text: string; approvals: PendingApproval[] }> {
  const messages: ModelMessage[] = [];
  const approvals: PendingApproval[] = [];
  let text = '';
  await generateText({
    model,
    tools,
    prompt,
    stopWhen: isStepCount(8),
    maxRetries: 0,
    ...(abortSignal && { abortSignal }),
    onStepEnd: (step: StepResult<BillingTools>) => {
      messages.push(...step.response.messages);
      text = step.text || text;
      for (const part of step.content) {
        if (part.type === 'tool-result')
          console.log(`    ${part.toolName}(${brief(part.input)}) → ${brief(part.output)}`);
        if (part.type === 'tool-error')
          console.log(`    ${part.toolName}(${brief(part.input)}) → error: ${part.error}`);
        if (part.type === 'tool-approval-request') {
          const { toolName, input } = part.toolCall;
          approvals.push({ approvalId: part.approvalId, toolName, input });
          console.log(`    ${toolName}(${brief(input)}) → approval requested (${part.approvalId})`);
        }
      }
    },
  });
  return { messages, text, approvals };
}

function brief(value: unknown): string {
  if (isToolRefusal(value)) return `refused (${value.code}): ${value.reason}`;
  const o = value as Record<string, unknown>;
  if ('chargeId' in o) return `${o.status} ${o.chargeId} ${o.amountCents} ${o.currency}`;
  return Object.entries(o)
    .filter(([k]) => k !== 'currency')
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
  const dir = mkdtempSync(join(tmpdir(), 'spendguard-ai-sdk-example-'));
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
 * Offline: the mock model plays a run with a double-fired charge, an illegal one, a provider outage,
 * a charge that needs a human's approval, and a revoked key.
 */
async function runOffline(): Promise<void> {
  const { world, close } = await offlineWorld();
  try {
    const ids = await world.customers('ada', 'bob');
    const runId = `billing-run-${Date.now().toString(36)}`;
    const abortController = new AbortController();
    const tools = guardTools(billingTools(world.governedStripe()).tools, {
      guard: world.guard,
      key: world.rootToken,
      runId,
      agentId: 'billing-agent',
      abortController,
      fields: { charge: ['customer', 'amountCents', 'currency', 'orderId'] },
      approval: { charge: chargeRequest },
      approver: () => 'ops@example.com (console)',
    });

    console.log('1. The model charges Ada twice in one turn, tries $900 for Bob, then its provider fails.');
    const model = scriptedModel([
      { calls: [chargeCall(ids.ada, 4999, 'ord_1001'), chargeCall(ids.ada, 4999, 'ord_1001')] },
      { calls: [chargeCall(ids.bob, 90_000, 'ord_1002')] },
      { fails: new Error('503 Service Unavailable from the model provider') },
      // the retried generation starts over
      { calls: [chargeCall(ids.ada, 4999, 'ord_1001')] },
      { calls: [chargeCall(ids.bob, 9_000, 'ord_1002')] },
      { text: 'Charged Ada $49.99 and Bob $90.00.' },
    ]);
    const prompt = 'Charge Ada $49.99 for order 1001 and Bob $90 for order 1002.';
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        console.log(`  attempt ${attempt}:`);
        const { text } = await agentTurn(model, tools, prompt, abortController.signal);
        console.log(`  model: ${text}`);
        break;
      } catch (error) {
        if (RunStoppedError.isInstance(error)) throw error; // the kill switch: never retry
        console.log(`  generation failed (${(error as Error).message}); the app retries it`);
      }
    }
    const charges = world.fake.ledger.list('charge');
    console.log(
      `  Stripe saw ${charges.length} charges, $${(world.fake.ledger.moneyMoved('usd') / 100).toFixed(2)} in all.`,
    );

    console.log("\n2. The model charges Ada $450: above the policy's $400, so the AI SDK asks for approval.");
    const user: ModelMessage = { role: 'user', content: 'Charge Ada $450 for order 1003.' };
    const asking = scriptedModel([{ calls: [chargeCall(ids.ada, 45_000, 'ord_1003')] }]);
    const asked = await agentTurn(asking, tools, [user], abortController.signal);
    console.log(
      `  Stripe saw ${world.fake.ledger.count('charge')} charges so far: nothing runs until a human answers.`,
    );
    // The app's approval UI answers the AI SDK's way: a tool message, then the next generation.
    const answer: ModelMessage = {
      role: 'tool',
      content: asked.approvals.map((a) => ({
        type: 'tool-approval-response' as const,
        approvalId: a.approvalId,
        approved: true,
      })),
    };
    console.log(`  the operator approves ${asked.approvals.map((a) => a.approvalId).join(', ')}`);
    const approvedTurn = scriptedModel([{ text: 'Charged Ada $450.00.' }]);
    const done = await agentTurn(
      approvedTurn,
      tools,
      [user, ...asked.messages, answer],
      abortController.signal,
    );
    const last = world.fake.ledger.list('charge').at(-1);
    console.log(`  charged ${last?.id} for $${(Number(last?.amount) / 100).toFixed(2)}; model: ${done.text}`);

    console.log('\n3. An operator revokes the run key; the agent tries to charge again.');
    const runKey = await world.guard.keys.derive(world.rootToken, { runId });
    await world.guard.keys.revoke(runKey.id);
    const after = scriptedModel([{ calls: [chargeCall(ids.ada, 1500, 'ord_1004')] }, { text: 'Charged.' }]);
    try {
      await agentTurn(after, tools, 'Charge Ada $15 for order 1004.', abortController.signal);
    } catch (error) {
      if (!RunStoppedError.isInstance(error)) throw error;
      console.log(`  the run stopped: ${error.message} (model calls made: ${after.doGenerateCalls.length})`);
    }
    printAudit(await world.guard.audit.list());
    const verdict = await world.guard.audit.verify();
    console.log(`  audit chain verified: ${JSON.stringify(verdict)}`);
  } finally {
    await close();
  }
}

/** With real keys: a real model (AI Gateway) and/or real Stripe (test mode), one agent turn. */
async function runLive(gatewayModel: string | undefined, stripeKey: string | undefined): Promise<void> {
  let guard: Guard;
  let tools: BillingTools;
  let customer: string;
  let close = async () => {};
  if (stripeKey) {
    guard = createGuard({ policies: billingPolicy('STRIPE_SECRET_KEY') }); // SQLite under .spendguard/
    const root = await guard.keys.issueRoot({ policy: BILLING_AGENT, name: 'ai-sdk-billing-agent' });
    const admin = createGovernedStripe({ guard, key: root.token });
    customer = (await admin.customers.create({ name: 'spendguard example', source: 'tok_visa' })).id;
    tools = guardTools(billingTools(createGovernedStripe({ guard })).tools, {
      guard,
      key: root.token,
      agentId: 'billing-agent',
    });
    close = () => guard.close();
  } else {
    const offline = await offlineWorld();
    const { world } = offline;
    guard = world.guard;
    customer = (await world.customers('ada')).ada as string;
    tools = guardTools(billingTools(world.governedStripe()).tools, {
      guard,
      key: world.rootToken,
      agentId: 'billing-agent',
    });
    close = offline.close;
  }
  const model: LanguageModel =
    gatewayModel ??
    scriptedModel([
      { calls: [chargeCall(customer, 1234, 'ord_live_1'), chargeCall(customer, 1234, 'ord_live_1')] },
      { text: 'Charged $12.34 once.' },
    ]);
  try {
    const { text } = await agentTurn(
      model,
      tools,
      `Charge customer ${customer} $12.34 in usd for order ord_live_1. To be safe, call the charge tool twice in parallel with the same arguments.`,
    );
    console.log(`  model: ${text}`);
    printAudit(await guard.audit.list());
  } finally {
    await close();
  }
}

const gatewayModel = process.env.AI_GATEWAY_API_KEY
  ? (process.env.AI_MODEL ?? 'openai/gpt-4.1-mini')
  : undefined;
const stripeKey = process.env.STRIPE_SECRET_KEY;
if (process.env.OPENAI_API_KEY && !gatewayModel) {
  console.log(
    'OPENAI_API_KEY is set, but @ai-sdk/openai is not installed here: using the offline model.\n' +
      'Set AI_GATEWAY_API_KEY to use a real model through the AI Gateway (it ships inside `ai`).\n',
  );
}
if (gatewayModel || stripeKey) {
  console.log(`live: model ${gatewayModel ?? 'offline'}, Stripe ${stripeKey ? 'real (your key)' : 'fake'}\n`);
  await runLive(gatewayModel, stripeKey);
} else {
  console.log('spendguard + Vercel AI SDK billing agent (offline: mock model, fake Stripe)\n');
  await runOffline();
}
