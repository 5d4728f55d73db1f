import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '@mastra/core/agent';
import { noopLogger } from '@mastra/core/logger';
import { LibSQLStore } from '@mastra/libsql';
import { Memory } from '@mastra/memory';
import type { AuditRow } from '@spendguard/core';
import { type BillingWorld, chargeCall, type DemoColumn } from '@spendguard/testkit/adapters';
import { guardTools } from '../guard-tools.ts';
import { type BillingOptions, type BillingTools, billingTools } from './billing.ts';
import { type AgentRun, drive } from './drive.ts';
import { asAgentModel, promptsOf, scriptedModel } from './scripted-model.ts';
import { BILLING_INSTRUCTIONS } from './surface.ts';
import {
  batchBillingWorkflow,
  billOrderWorkflow,
  parallelBillingWorkflow,
  workflowMastra,
} from './workflows.ts';

/** What a Mastra row's workload is given: the world, and the charge tool plain or guarded. */
export interface MastraBench {
  world: BillingWorld;
  governed: boolean;
  /** Customer name → id at the fake Stripe. */
  ids: Record<string, string>;
  /** A new charge tool: plain over the real secret, or `guardTools` over a governed Stripe client. */
  charge(options?: BillingOptions): BillingTools['charge'];
}

/** What one column of a Mastra row did. */
export interface MastraColumn extends DemoColumn {
  /** Charge movements at the fake Stripe, and their `order_id`s. */
  charges: number;
  chargedOrders: string[];
  /** How often the charge tool's own code ran. */
  executions: number;
  /** Audit rows written during the workload (none without spendguard). */
  audit: AuditRow[];
  /** What the workload returns for its checks (workflow results, agent runs, prompts). */
  detail: Record<string, unknown>;
}

/** A Mastra-specific way of running a billing tool twice, without and with spendguard. */
export interface MastraRow {
  id: string;
  title: string;
  customers: string[];
  expectedObjects: number;
  maxMoneyUsd: number;
  /** The workload: what it reports becomes the column's `detail`, `attempted` its tool calls. */
  play(bench: MastraBench): Promise<{ attempted: number; detail: Record<string, unknown> }>;
}

/** A workflow run's result, as far as the rows read it. */
interface WorkflowResult {
  status: string;
  result?: unknown;
  error?: unknown;
  steps?: Record<string, { status?: string; output?: unknown }>;
}

/**
 * Mastra's own ways of re-running a billing tool: a workflow step's `retries`, parallel branches,
 * a `foreach` fan-out re-run, an agent's memory on a resumed thread. Each doubles a charge without
 * spendguard; with it the charge happens once.
 */
export const MASTRA_ROWS: MastraRow[] = [
  {
    id: 'W1',
    title:
      'workflow step retries: the charge step books the charge, the booking fails once, `retries: 2` re-runs the step',
    customers: ['ada'],
    expectedObjects: 1,
    maxMoneyUsd: 49.99,
    async play({ ids, charge }) {
      let bookings = 0;
      const tool = charge({
        afterCharge: () => {
          // The app's database write after the charge: down on the first attempt.
          if (++bookings === 1) throw new Error('the orders database timed out');
        },
      });
      const mastra = workflowMastra({ billOrder: billOrderWorkflow(tool, { retries: 2 }) });
      const run = await mastra.getWorkflow('billOrder').createRun();
      const result = (await run.start({
        inputData: { customer: ids.ada as string, amountCents: 4999, currency: 'usd', orderId: 'ord_1001' },
      })) as WorkflowResult;
      return { attempted: bookings, detail: { result, runId: run.runId, bookings } };
    },
  },
  {
    id: 'W2',
    title: 'parallel steps: two branches of one workflow bill the same customer for the same order',
    customers: ['bob'],
    expectedObjects: 1,
    maxMoneyUsd: 120,
    async play({ ids, charge }) {
      const mastra = workflowMastra({ billTwice: parallelBillingWorkflow(charge()) });
      const run = await mastra.getWorkflow('billTwice').createRun();
      const result = (await run.start({
        inputData: { customer: ids.bob as string, amountCents: 12_000, currency: 'usd', orderId: 'ord_2001' },
      })) as WorkflowResult;
      return { attempted: 2, detail: { result, runId: run.runId } };
    },
  },
  {
    id: 'W3',
    title: 'foreach fan-out re-run: 5 customers, one rate-limited, the app runs the workflow again',
    customers: ['c1', 'c2', 'c3', 'c4', 'c5'],
    expectedObjects: 5,
    maxMoneyUsd: 100,
    async play({ world, ids, charge }) {
      world.fake.faults.inject(
        { kind: 'rate_limit' },
        { match: (req) => (req.params as { customer?: string }).customer === ids.c4 },
      );
      const batch = ['c1', 'c2', 'c3', 'c4', 'c5'].map((n) => ({
        customer: ids[n] as string,
        amountCents: 2000,
        currency: 'usd',
        orderId: `inv_${n}`,
      }));
      const mastra = workflowMastra({ billBatch: batchBillingWorkflow(charge()) });
      const workflow = mastra.getWorkflow('billBatch');
      // A job queue's retry: the same batch again, as a new run.
      const first = (await (await workflow.createRun()).start({ inputData: batch })) as WorkflowResult;
      const second = (await (await workflow.createRun()).start({ inputData: batch })) as WorkflowResult;
      return { attempted: 10, detail: { first, second } };
    },
  },
  {
    id: 'W4',
    title: 'agent memory: a resumed thread (@mastra/memory, LibSQL) asks again, the model charges again',
    customers: ['dee'],
    expectedObjects: 1,
    maxMoneyUsd: 30,
    async play({ ids, charge }) {
      const dir = mkdtempSync(join(tmpdir(), 'spendguard-mastra-memory-'));
      try {
        const storage = new LibSQLStore({ id: 'billing-memory', url: `file:${join(dir, 'memory.db')}` });
        const memory = new Memory({ storage, options: { lastMessages: 20 } });
        const tools = { charge: charge() };
        const thread = { thread: 'thread-dee', resource: 'user-dee' };
        const turn = { calls: [chargeCall(ids.dee, 3000, 'ord_4001')] };
        const runs: AgentRun[] = [];
        const prompts: string[][] = [];
        for (const [prompt, answer] of [
          ['Charge Dee $30 for order 4001.', 'Charged Dee $30.'],
          ['Did that go through? If unsure, charge again.', 'Done.'],
        ] as const) {
          // A new request in the same thread: a new agent instance, the same memory.
          const model = scriptedModel([turn, { text: answer }]);
          const agent = new Agent({
            id: 'billing-agent',
            name: 'billing-agent',
            instructions: BILLING_INSTRUCTIONS,
            model: asAgentModel(model),
            tools,
            memory,
          });
          agent.__setLogger(noopLogger);
          runs.push(await drive('generate', agent, prompt, { memory: thread }));
          prompts.push(promptsOf(model));
        }
        return { attempted: 2, detail: { runs, prompts } };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];

/**
 * One column of a Mastra row: a fresh fake Stripe with the row's customers, the workload through
 * Mastra, then what it did at the fake Stripe, in the tool and in the audit log.
 */
export async function playMastraColumn(
  row: MastraRow,
  world: BillingWorld,
  governed: boolean,
): Promise<MastraColumn> {
  world.fake.reset();
  const ids = await world.customers(...row.customers);
  const seqBefore = (await world.guard.audit.list()).at(-1)?.seq ?? 0;
  const stats: { executions: number }[] = [];
  const bench: MastraBench = {
    world,
    governed,
    ids,
    charge(options = {}) {
      const stripe = governed ? world.governedStripe() : world.plainStripe();
      const billing = billingTools(stripe, options);
      stats.push(billing.stats);
      if (!governed) return billing.tools.charge;
      return guardTools(billing.tools, { guard: world.guard, key: world.rootToken, agentId: world.agentName })
        .charge;
    },
  };
  const { attempted, detail } = await row.play(bench);
  const audit = governed ? await world.guard.audit.list({ afterSeq: seqBefore }) : [];
  const toolAudit = audit.filter((r) => r.vendor === 'tool');
  const { ledger } = world.fake;
  return {
    attempted,
    objects: ledger.movements.length,
    moneyMovedUsd: ledger.movements.reduce((sum, m) => sum + m.amount, 0) / 100,
    replays: toolAudit.filter((r) => r.decision === 'replayed').length,
    denials: toolAudit.filter((r) => r.decision === 'denied').length,
    charges: ledger.count('charge'),
    chargedOrders: ledger.list('charge').map((c) => (c.metadata as { order_id: string }).order_id),
    executions: stats.reduce((n, s) => n + s.executions, 0),
    audit,
    detail,
  };
}
