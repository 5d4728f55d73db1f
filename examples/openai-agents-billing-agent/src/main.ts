/**
 * A billing agent on the OpenAI Agents SDK whose tools go through spendguard.
 *
 *   pnpm --filter @spendguard/openai-agents-billing-agent start
 *
 * Offline by default: the SDK's own `ScriptedModel` plays the agents, against a fake Stripe on
 * loopback, with a SQLite store in a temp directory. With `OPENAI_API_KEY` a real model plays the
 * billing agent (and the run's trace goes to the OpenAI dashboard, its id on the audit rows); with
 * `STRIPE_SECRET_KEY` (use a test-mode key) the charges go to your real Stripe account.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Agent,
  type AgentInputItem,
  MemorySession,
  Runner,
  type RunResult,
  RunState,
  type StreamedRunResult,
} from '@openai/agents';
import { type AuditRow, createGuard, type Guard, type PolicyDocument, SqliteStore } from '@spendguard/core';
import { createGovernedStripe } from '@spendguard/core/stripe';
import {
  guardTools,
  isToolRefusal,
  RunStoppedError,
  runStoppedErrorOf,
  type VendorRequest,
} from '@spendguard/openai-agents';
import {
  BILLING_INSTRUCTIONS,
  type BillingTools,
  billingTools,
  scriptedAgent,
} from '@spendguard/openai-agents/testing';
import {
  BILLING_AGENT,
  BillingWorld,
  billingPolicy,
  type ChargeInput,
  chargeCall,
} from '@spendguard/testkit/adapters';
import type Stripe from 'stripe';

/** The triage agent's role: it may look customers up, and nothing that moves money. */
const TRIAGE_AGENT = 'triage-agent';
const CREDENTIAL_ENV = 'SPENDGUARD_EXAMPLE_STRIPE_KEY';

/** The billing policy (charges up to $500, a human above $400) and a triage role beside it. */
function examplePolicy(credentialEnv: string): PolicyDocument {
  const billing = billingPolicy(credentialEnv);
  return {
    ...billing,
    policies: { ...billing.policies, [TRIAGE_AGENT]: { stripe: { allow: ['GET /v1/customers/*'] } } },
  };
}

/**
 * The Stripe call the charge tool makes for an input: spendguard checks the policy's approval rule
 * (`approval: { above: 400 }`) against it before the tool runs, and asks the SDK for approval.
 */
function chargeRequest(input: ChargeInput): VendorRequest {
  return {
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: input.amountCents, currency: input.currency, customer: input.customer },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: agents of any context and output, as the SDK types them
type AnyAgent = Agent<any, any>;
type Result = RunResult<unknown, AnyAgent> | StreamedRunResult<unknown, AnyAgent>;

/** One run, printing each tool output as the model reads it and each approval the run stops for. */
async function agentRun(
  agent: AnyAgent,
  input: string | AgentInputItem[] | RunState<unknown, AnyAgent>,
  options: { context?: unknown; session?: MemorySession; stream?: boolean; runner?: Runner } = {},
): Promise<Result> {
  const runner = options.runner ?? new Runner({ tracingDisabled: true });
  const print = (
    _c: unknown,
    who: { name: string },
    tool: { name: string },
    output: string,
    call: unknown,
  ) => {
    const args = (call as { toolCall?: { arguments?: string } }).toolCall?.arguments ?? '{}';
    console.log(`    ${who.name}: ${tool.name}(${brief(JSON.parse(args))}) → ${brief(parsed(output))}`);
  };
  runner.on('agent_tool_end', print);
  const runOptions = {
    ...(options.context !== undefined && { context: options.context }),
    ...(options.session && { session: options.session }),
  };
  try {
    let result: Result;
    if (options.stream) {
      const stream = await runner.run(agent, input, { ...runOptions, stream: true });
      for await (const _event of stream) {
        // A UI would render the events; the example only needs the run to finish.
      }
      await stream.completed;
      result = stream;
    } else {
      result = await runner.run(agent, input, runOptions);
    }
    for (const item of result.interruptions) {
      console.log(
        `    ${item.agent.name}: ${item.name}(${brief(JSON.parse(item.arguments ?? '{}'))}) → approval requested`,
      );
    }
    return result;
  } finally {
    runner.off('agent_tool_end', print);
  }
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function brief(value: unknown): string {
  if (isToolRefusal(value)) return `refused (${value.code}): ${value.reason}`;
  if (value === null || typeof value !== 'object') return String(value);
  const o = value as Record<string, unknown>;
  if ('chargeId' in o) return `${o.status} ${o.chargeId} ${o.amountCents} ${o.currency}`;
  return Object.entries(o)
    .filter(([k, v]) => k !== 'currency' && v !== null && v !== undefined)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
}

function printAudit(rows: AuditRow[]): void {
  console.log('\n  audit (hash-chained):');
  for (const r of rows) {
    const cost = r.actualCostUsd === null ? '' : ` $${r.actualCostUsd.toFixed(2)}`;
    const approved = r.message?.startsWith('approved by') ? ` (${r.message})` : '';
    const trace = r.traceId ? ` trace=${r.traceId}` : '';
    console.log(
      `    #${r.seq} ${r.decision.padEnd(14)} ${r.code.padEnd(22)} ${(r.operation ?? '').padEnd(20)}${cost.padEnd(9)} agent=${r.agentId} run=${r.runId} call=${r.toolCallId}${trace}${approved}`,
    );
  }
}

function stripeConfig(port: number): Stripe.StripeConfig {
  return { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0 };
}

/** The fake Stripe, and a guard over a SQLite store in a temp directory; `close()` removes them. */
async function offlineWorld(): Promise<{
  world: BillingWorld;
  guard: Guard;
  stripe: Stripe;
  close(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'spendguard-openai-agents-example-'));
  const world = new BillingWorld({ credentialEnv: CREDENTIAL_ENV });
  await world.start();
  const guard = createGuard({
    policies: examplePolicy(CREDENTIAL_ENV),
    store: new SqliteStore({ file: join(dir, 'spendguard.db') }),
  });
  const stripe = createGovernedStripe({ guard, config: stripeConfig(world.server.port) });
  return {
    world,
    guard,
    stripe,
    async close() {
      await guard.close();
      await world.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Offline: the scripted model plays a run with a double-fired charge, an illegal one and a provider
 * outage the app retries, a triage agent that tries to bill before its handoff, a charge that needs
 * a human's approval (the state stored and resumed), and a revoked key.
 */
async function runOffline(): Promise<void> {
  const { world, guard, stripe, close } = await offlineWorld();
  try {
    const ids = await world.customers('ada', 'bob');
    const billingRoot = await guard.keys.issueRoot({ policy: BILLING_AGENT, name: 'billing-agent' });
    const triageRoot = await guard.keys.issueRoot({ policy: TRIAGE_AGENT, name: 'triage-agent' });
    const runId = `billing-run-${Date.now().toString(36)}`;
    const context = { runId }; // every agent of the conversation, one run
    // Each agent's tools hold a key of its own role.
    const billing: BillingTools = guardTools(billingTools(stripe).tools, {
      guard,
      key: billingRoot.token,
      fields: { charge: ['customer', 'amountCents', 'currency', 'orderId'] },
      approval: { charge: chargeRequest as (input: never) => VendorRequest },
      approver: () => 'ops@example.com (console)',
    });
    const triage: BillingTools = guardTools(billingTools(stripe).tools, { guard, key: triageRoot.token });
    const charged = () =>
      `Stripe saw ${world.fake.ledger.count('charge')} charges, $${(world.fake.ledger.moneyMoved('usd') / 100).toFixed(2)} in all.`;

    console.log('1. The model charges Ada twice in one turn, tries $900 for Bob, then its provider fails.');
    const session = new MemorySession();
    const attempts = [
      [
        { calls: [chargeCall(ids.ada, 4999, 'ord_1001'), chargeCall(ids.ada, 4999, 'ord_1001')] },
        { calls: [chargeCall(ids.bob, 90_000, 'ord_1002')] },
        { fails: new Error('503 Service Unavailable from the model provider') },
      ],
      // The retried run starts over: the failed run saved nothing to the session.
      [
        { calls: [chargeCall(ids.ada, 4999, 'ord_1001')] },
        { calls: [chargeCall(ids.bob, 9_000, 'ord_1002')] },
        { text: 'Charged Ada $49.99 and Bob $90.00.' },
      ],
    ];
    const prompt = 'Charge Ada $49.99 for order 1001 and Bob $90 for order 1002.';
    for (const [n, script] of attempts.entries()) {
      const { agent } = scriptedAgent(script, { name: 'billing-agent', tools: billing });
      try {
        console.log(`  attempt ${n + 1}:`);
        const result = await agentRun(agent, prompt, { context, session });
        console.log(`  model: ${result.finalOutput}`);
        break;
      } catch (error) {
        if (runStoppedErrorOf(error)) throw error; // the kill switch: never retry
        console.log(`  run failed (${(error as Error).message}); the app retries it with the same session`);
      }
    }
    console.log(`  ${charged()}`);

    console.log('\n2. A triage agent tries to charge Ada $25 itself, then hands off to billing.');
    const biller = scriptedAgent(
      [{ calls: [chargeCall(ids.ada, 2500, 'ord_1003')] }, { text: 'Charged Ada $25.' }],
      {
        name: 'billing-agent',
        tools: billing,
      },
    );
    const triager = scriptedAgent(
      [{ calls: [chargeCall(ids.ada, 2500, 'ord_1003'), { tool: 'transfer_to_billing_agent', input: {} }] }],
      { name: 'triage-agent', tools: triage, handoffs: [biller.agent] },
    );
    const handedOff = await agentRun(triager.agent, 'Charge Ada $25 for order 1003.', { context });
    console.log(`  ${handedOff.lastAgent?.name}: ${handedOff.finalOutput}`);
    console.log(`  ${charged()}`);

    console.log("\n3. The model charges Ada $450: above the policy's $400, so the run stops for approval.");
    const asking = scriptedAgent(
      [{ calls: [chargeCall(ids.ada, 45_000, 'ord_1004')] }, { text: 'Charged Ada $450.' }],
      {
        name: 'billing-agent',
        tools: billing,
      },
    );
    const paused = await agentRun(asking.agent, 'Charge Ada $450 for order 1004.', { context });
    const stored = paused.state.toString(); // what the app keeps while a human decides
    console.log(`  the app stores the run's state (${stored.length} bytes). ${charged()}`);
    const state = await RunState.fromString(asking.agent, stored);
    for (const item of state.getInterruptions()) state.approve(item);
    console.log('  the operator approves; the app resumes the stored run (streamed)');
    const resumed = await agentRun(asking.agent, state, { context, stream: true });
    const last = world.fake.ledger.list('charge').at(-1);
    console.log(
      `  charged ${last?.id} for $${(Number(last?.amount) / 100).toFixed(2)}; model: ${resumed.finalOutput}`,
    );

    console.log('\n4. An operator revokes the run key; the agent tries to charge again.');
    const runKey = await guard.keys.derive(billingRoot.token, { runId });
    await guard.keys.revoke(runKey.id);
    const after = scriptedAgent([{ calls: [chargeCall(ids.ada, 1500, 'ord_1005')] }, { text: 'Charged.' }], {
      name: 'billing-agent',
      tools: billing,
    });
    try {
      await agentRun(after.agent, 'Charge Ada $15 for order 1005.', { context });
    } catch (error) {
      const stopped = runStoppedErrorOf(error);
      if (!RunStoppedError.isInstance(stopped)) throw error;
      console.log(
        `  the run stopped: ${(error as Error).name}: ${stopped.message} (model calls made: ${after.scripted.inputs().length})`,
      );
    }
    printAudit(await guard.audit.list());
    const verdict = await guard.audit.verify();
    console.log(`  audit chain verified: ${JSON.stringify(verdict)}`);
  } finally {
    await close();
  }
}

/** With real keys: a real model (OpenAI) and/or real Stripe (test mode), one agent run. */
async function runLive(openAiModel: string | undefined, stripeKey: string | undefined): Promise<void> {
  let guard: Guard;
  let tools: BillingTools;
  let customer: string;
  let close = async () => {};
  if (stripeKey) {
    guard = createGuard({ policies: billingPolicy('STRIPE_SECRET_KEY') }); // SQLite under .spendguard/
    const root = await guard.keys.issueRoot({ policy: BILLING_AGENT, name: 'openai-agents-billing-agent' });
    const admin = createGovernedStripe({ guard, key: root.token });
    customer = (await admin.customers.create({ name: 'spendguard example', source: 'tok_visa' })).id;
    tools = guardTools(billingTools(createGovernedStripe({ guard })).tools, { guard, key: root.token });
    close = () => guard.close();
  } else {
    const offline = await offlineWorld();
    guard = offline.guard;
    customer = (await offline.world.customers('ada')).ada as string;
    const root = await guard.keys.issueRoot({ policy: BILLING_AGENT, name: 'openai-agents-billing-agent' });
    tools = guardTools(billingTools(offline.stripe).tools, { guard, key: root.token });
    close = offline.close;
  }
  const prompt = `Charge customer ${customer} $12.34 in usd for order ord_live_1. To be safe, call the charge tool twice in parallel with the same arguments.`;
  const agent: AnyAgent = openAiModel
    ? new Agent({ name: 'billing-agent', instructions: BILLING_INSTRUCTIONS, model: openAiModel, tools })
    : scriptedAgent(
        [
          { calls: [chargeCall(customer, 1234, 'ord_live_1'), chargeCall(customer, 1234, 'ord_live_1')] },
          { text: 'Charged $12.34 once.' },
        ],
        { name: 'billing-agent', tools },
      ).agent;
  // With a real model the run's trace goes to the OpenAI dashboard; its id is on the audit rows.
  const runner = new Runner({
    tracingDisabled: !openAiModel,
    workflowName: 'spendguard billing example',
    groupId: `chat-${Date.now().toString(36)}`,
  });
  try {
    const result = await agentRun(agent, prompt, {
      runner,
      context: { runId: `live-${Date.now().toString(36)}` },
    });
    console.log(`  model: ${result.finalOutput}`);
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
  console.log('spendguard + OpenAI Agents SDK billing agent (offline: scripted model, fake Stripe)\n');
  await runOffline();
}
