import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guardTools } from '@spendguard/ai-sdk';
import { type AuditRow, SqliteStore, type Store } from '@spendguard/core';
import type { FakeStripe } from '@spendguard/testkit';
import { generateText, isStepCount, type LanguageModel, type ModelMessage } from 'ai';
import { type BillingTools, createBillingTools } from './billing-tools.ts';
import { chargeCall, offlineModel, type Turn } from './offline-model.ts';
import { startOfflineWorld } from './world.ts';

/** What one column of a row counts (the same shape as the demo's `Column`). */
export interface AiSdkDemoColumn {
  /** Tool calls the model made. */
  attempted: number;
  /** Money movements at the fake Stripe (charges). */
  objects: number;
  moneyMovedUsd: number;
  /** Tool calls that got a stored result instead of running again (their audit rows). */
  replays: number;
  /** Tool calls that were refused (their audit rows; the Stripe row inside is not counted again). */
  denials: number;
}

/** One row of `pnpm demo` for the AI SDK (the same shape as the demo's `ScenarioResult`). */
export interface AiSdkDemoRow {
  /** `ai-sdk/F1` … `ai-sdk/F8`. */
  id: string;
  title: string;
  without: AiSdkDemoColumn;
  with: AiSdkDemoColumn;
  /** Vendor objects a correct run creates; more is a duplicate. */
  expectedObjects: number;
  /** The most money a correct run moves, in USD; more is an overspend. */
  maxMoneyUsd: number;
  /** Audit rows of the run with spendguard. */
  audit: AuditRow[];
}

export interface AiSdkDemoOptions {
  /** Default: a SQLite file in a new temp directory, removed afterwards. A store passed here is not closed. */
  store?: Store;
  /** Run only these rows (`F1`, `ai-sdk/F1`, …). Default: all. */
  only?: string[];
  onRow?: (row: AiSdkDemoRow) => void;
}

/** How a workload asks for a toolset: the options matter only with spendguard. */
interface ToolsetOptions {
  runId?: string;
  abortController?: AbortController;
  runCapUsd?: number;
}

interface Workbench {
  /** Customer name → id at the fake Stripe. */
  ids: Record<string, string>;
  fake: FakeStripe;
  /** The billing tools: plain, or through `guardTools`. */
  tools(options?: ToolsetOptions): BillingTools;
  /** An operator revokes a run's key (nothing to revoke without spendguard). */
  revoke(runId: string): Promise<void>;
  /** A run id unique to this invocation of the demo. */
  runId(name: string): string;
}

interface Row {
  id: string;
  title: string;
  customers: string[];
  expectedObjects: number;
  maxMoneyUsd: number;
  /** The application code: generations through the real AI SDK loop; returns the tool calls made. */
  workload(w: Workbench): Promise<number>;
}

/** One `generateText` as an application runs it; the tool calls it made, its messages, its failure. */
async function generation(
  model: LanguageModel,
  tools: BillingTools,
  prompt: string | ModelMessage[],
  abortSignal?: AbortSignal,
): Promise<{ attempted: number; messages: ModelMessage[]; error: unknown }> {
  let attempted = 0;
  const messages: ModelMessage[] = [];
  let error: unknown;
  try {
    await generateText({
      model,
      tools,
      prompt,
      stopWhen: isStepCount(10),
      maxRetries: 0,
      ...(abortSignal && { abortSignal }),
      onStepEnd: (step) => {
        attempted += step.toolCalls.length;
        messages.push(...step.response.messages);
      },
    });
  } catch (e) {
    error = e;
  }
  return { attempted, messages, error };
}

const ROWS: Row[] = [
  {
    id: 'F1',
    title: 'retry after success: the model call after the charge fails, the app re-runs generateText',
    customers: ['ada'],
    expectedObjects: 1,
    maxMoneyUsd: 49.99,
    async workload({ ids, tools }) {
      const model = offlineModel([
        { calls: [chargeCall(ids.ada, 4999, 'ord_1001')] },
        { fails: new Error('the model provider is overloaded') },
        { calls: [chargeCall(ids.ada, 4999, 'ord_1001')] },
        { text: 'Charged Ada $49.99.' },
      ]);
      const toolset = tools();
      let attempted = 0;
      // The p-retry pattern: the whole generation again, until it succeeds.
      for (let attempt = 1; attempt <= 3; attempt++) {
        const g = await generation(
          model,
          toolset,
          'Charge Ada $49.99 for order 1001, then send the receipt.',
        );
        attempted += g.attempted;
        if (!g.error) break;
      }
      return attempted;
    },
  },
  {
    id: 'F2',
    title: 'parallel duplicates: one model turn calls charge twice with the same input',
    customers: ['bob'],
    expectedObjects: 1,
    maxMoneyUsd: 120,
    async workload({ ids, tools }) {
      const twice = [chargeCall(ids.bob, 12_000, 'ord_2001'), chargeCall(ids.bob, 12_000, 'ord_2001')];
      const model = offlineModel([{ calls: twice }, { text: 'Charged Bob $120.' }]);
      return (await generation(model, tools(), 'Charge Bob $120 for order 2001.')).attempted;
    },
  },
  {
    id: 'F3',
    title: 'fan-out re-dispatch: 5 charges in one turn, one rate-limited, the model re-sends all 5',
    customers: ['c1', 'c2', 'c3', 'c4', 'c5'],
    expectedObjects: 5,
    maxMoneyUsd: 100,
    async workload({ ids, tools, fake }) {
      fake.faults.inject(
        { kind: 'rate_limit' },
        { match: (r) => (r.params as { customer?: string }).customer === ids.c4 },
      );
      const batch = ['c1', 'c2', 'c3', 'c4', 'c5'].map((n) => chargeCall(ids[n], 2000, `inv_${n}`));
      const model = offlineModel([{ calls: batch }, { calls: batch }, { text: 'Billed all five.' }]);
      return (await generation(model, tools(), 'Bill the five customers $20 each.')).attempted;
    },
  },
  {
    id: 'F4',
    title: 'history replay: a new generateText over the stored messages charges again',
    customers: ['dee'],
    expectedObjects: 1,
    maxMoneyUsd: 30,
    async workload({ ids, tools }) {
      const user: ModelMessage = { role: 'user', content: 'Charge Dee $30 for order 4001.' };
      const call = chargeCall(ids.dee, 3000, 'ord_4001');
      const first = await generation(offlineModel([{ calls: [call] }, { text: 'Charged.' }]), tools(), [
        user,
      ]);
      // Another request resumes the conversation from the stored messages, with a new toolset.
      const resumed: ModelMessage[] = [
        user,
        ...first.messages,
        { role: 'user', content: 'Did that go through? If unsure, charge again.' },
      ];
      const second = await generation(offlineModel([{ calls: [call] }, { text: 'Done.' }]), tools(), resumed);
      return first.attempted + second.attempted;
    },
  },
  {
    id: 'F6',
    title: 'two runs, one key revoked after its first charge: it stops, the other keeps working',
    customers: ['ann', 'ben'],
    expectedObjects: 4,
    maxMoneyUsd: 40,
    async workload({ ids, tools, revoke, runId }) {
      const run = async (name: string, customer: string | undefined) => {
        const id = runId(name);
        const abortController = new AbortController();
        const turns: Turn[] = [1, 2, 3].map((i) => ({ calls: [chargeCall(customer, 1000, `${id}_${i}`)] }));
        const model = offlineModel(async (n) => {
          if (name === 'a' && n === 1) await revoke(id); // an operator pulls run A's key
          return turns[n] ?? { text: 'Charged three orders.' };
        });
        const toolset = tools({ runId: id, abortController });
        return (await generation(model, toolset, 'Charge three orders.', abortController.signal)).attempted;
      };
      const [a, b] = await Promise.all([run('a', ids.ann), run('b', ids.ben)]);
      return a + b;
    },
  },
  {
    id: 'F7',
    title: 'stuck loop: six legal $25 charges against a $100 run cap',
    customers: ['cy'],
    expectedObjects: 4,
    maxMoneyUsd: 100,
    async workload({ ids, tools }) {
      const turns: Turn[] = [1, 2, 3, 4, 5, 6].map((i) => ({
        calls: [chargeCall(ids.cy, 2500, `ord_700${i}`)],
      }));
      return (
        await generation(offlineModel(turns), tools({ runCapUsd: 100 }), 'Charge Cy for every open order.')
      ).attempted;
    },
  },
  {
    id: 'F8',
    title: 'parameter bleed: a $900 charge (max $500) and a charge in EUR (USD only)',
    customers: ['eve'],
    expectedObjects: 0,
    maxMoneyUsd: 0,
    async workload({ ids, tools }) {
      const model = offlineModel([
        { calls: [chargeCall(ids.eve, 90_000, 'ord_8001'), chargeCall(ids.eve, 1000, 'ord_8002', 'eur')] },
        { text: 'I could not charge Eve.' },
      ]);
      return (await generation(model, tools(), 'Charge Eve.')).attempted;
    },
  },
];

/**
 * The AI SDK rows of `pnpm demo`: each workload runs through the real `generateText` loop with an
 * offline model against a fake Stripe on loopback, once with the plain tools and once through
 * `guardTools`.
 */
export async function runAiSdkDemoRows(options: AiSdkDemoOptions = {}): Promise<AiSdkDemoRow[]> {
  const dir = options.store ? undefined : mkdtempSync(join(tmpdir(), 'spendguard-ai-sdk-'));
  const store = options.store ?? new SqliteStore({ file: join(dir as string, 'spendguard.db') });
  const world = await startOfflineWorld({
    store,
    credentialEnv: 'SPENDGUARD_AI_SDK_DEMO_STRIPE_KEY',
    closeStore: !options.store,
  });
  const stamp = Date.now().toString(36);
  const rows: AiSdkDemoRow[] = [];
  try {
    const wanted = ROWS.filter(
      (r) => !options.only || options.only.includes(r.id) || options.only.includes(`ai-sdk/${r.id}`),
    );
    for (const row of wanted) {
      const columns: AiSdkDemoColumn[] = [];
      let audit: AuditRow[] = [];
      for (const governed of [false, true]) {
        world.fake.reset();
        const ids = await world.customers(...row.customers);
        const seqBefore = (await world.guard.audit.list()).at(-1)?.seq ?? 0;
        const bench: Workbench = {
          ids,
          fake: world.fake,
          runId: (name) => `ai-sdk-${row.id}-${name}-${stamp}`,
          tools: (o = {}) => {
            if (!governed) return createBillingTools(world.plainStripe());
            return guardTools(createBillingTools(world.governedStripe()), {
              guard: world.guard,
              key: world.rootToken,
              agentId: 'billing-agent',
              ...(o.runId && { runId: o.runId }),
              ...(o.abortController && { abortController: o.abortController }),
              ...(o.runCapUsd && { runKey: { caps: { perRun: o.runCapUsd } } }),
            });
          },
          revoke: async (runId) => {
            if (!governed) return; // one shared secret: nothing to revoke for one run
            // The run's key as the toolset derived it (a derive with other narrowing would be refused).
            const runKey = (await world.guard.store.listKeys()).find((k) => k.runId === runId);
            if (runKey) await world.guard.keys.revoke(runKey.id);
          },
        };
        const attempted = await row.workload(bench);
        const auditRows = governed ? await world.guard.audit.list({ afterSeq: seqBefore }) : [];
        if (governed) audit = auditRows;
        const moved = world.fake.ledger.movements;
        // One row per tool call, like the calls column: a refused Stripe call inside a tool also
        // writes its own row, which would count the same refusal twice.
        const toolRows = auditRows.filter((r) => r.vendor === 'tool');
        columns.push({
          attempted,
          objects: moved.length,
          moneyMovedUsd: moved.reduce((sum, m) => sum + Math.abs(m.amount), 0) / 100,
          replays: toolRows.filter((r) => r.decision === 'replayed').length,
          denials: toolRows.filter((r) => r.decision === 'denied').length,
        });
      }
      const result: AiSdkDemoRow = {
        id: `ai-sdk/${row.id}`,
        title: `AI SDK: ${row.title}`,
        without: columns[0] as AiSdkDemoColumn,
        with: columns[1] as AiSdkDemoColumn,
        expectedObjects: row.expectedObjects,
        maxMoneyUsd: row.maxMoneyUsd,
        audit,
      };
      rows.push(result);
      options.onRow?.(result);
    }
  } finally {
    await world.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
