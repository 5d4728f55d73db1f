import { type AuditRow, isToolRefusal } from '@spendguard/core';
import { expect } from 'vitest';
import type { BillingWorld } from './billing-world.ts';
import {
  type AdapterSurface,
  type BillingToolset,
  chargeCall,
  type Script,
  type ToolOutcome,
  type ToolsOptions,
  type Turn,
} from './surface.ts';
import type { DemoColumn } from './table.ts';

/** One run as the table reads it, with the framework's own result to resume from. */
export interface PlayedRun<Result = unknown> {
  result: Result;
  outputs: ToolOutcome[];
  error: unknown;
  modelInputs: string[];
}

/** What a row's workload is given: the framework behind its surface, with or without spendguard. */
export interface Bench<Tools, Result> {
  world: BillingWorld;
  /** Customer name → id at the fake Stripe. */
  ids: Record<string, string>;
  /** A billing toolset: plain, or through spendguard (then `options` apply). */
  tools(options?: Omit<ToolsOptions, 'governed'>): BillingToolset<Tools>;
  run(
    script: Script,
    options: {
      tools: BillingToolset<Tools>;
      prompt: string;
      resume?: PlayedRun<Result>;
      abortController?: AbortController;
    },
  ): Promise<PlayedRun<Result>>;
  /** A run id unique to this row of this adapter, in this process. */
  runId(name: string): string;
  /** An operator revokes a run's key (without spendguard there is none: the runs share one secret). */
  revoke(runId: string): Promise<void>;
}

/** What one column of a row did, read from the fake Stripe, the toolsets and the audit log. */
export interface ColumnTrace extends DemoColumn {
  /** The runs the workload played, in its order. */
  runs: PlayedRun[];
  /** Charge movements at the fake Stripe. */
  charges: number;
  /** The `order_id` of every charge at the fake Stripe. */
  chargedOrders: string[];
  /** Requests the fake Stripe got during the workload (creating the customers is before). */
  stripeRequests: number;
  /** How often the charge tool's own code ran, over every toolset. */
  executions: number;
  /** Audit rows written during the workload (none without spendguard). */
  audit: AuditRow[];
}

/** What a row's checks may read besides the column. */
export interface RowContext {
  world: BillingWorld;
  runId(name: string): string;
}

export interface AdapterRow {
  id: string;
  title: string;
  customers: string[];
  /** Vendor objects a correct run creates; more is a duplicate. */
  expectedObjects: number;
  /** The most money a correct run moves, in USD; more is an overspend. */
  maxMoneyUsd: number;
  /** The application: runs through the framework's loop; returns them in a fixed order. */
  play<Tools, Result>(bench: Bench<Tools, Result>): Promise<PlayedRun<Result>[]>;
  /** Without spendguard: the duplicate or the overspend really happens. */
  checkWithout(column: ColumnTrace): void;
  /** With spendguard: what the adapter contract promises instead. */
  checkWith(column: ColumnTrace, context: RowContext): void | Promise<void>;
}

/** The output of a tool call that returned (a result or a refusal), not one that threw. */
function outputOf(outcome: ToolOutcome | undefined): Record<string, unknown> {
  expect(outcome?.error).toBeUndefined();
  return outcome?.output as Record<string, unknown>;
}

function toolRows(column: ColumnTrace): AuditRow[] {
  return column.audit.filter((r) => r.vendor === 'tool');
}

/** The rows F1–F4, F6–F8 of the adapter contract (F5, a transport retry, has no framework in it). */
export const ADAPTER_ROWS: AdapterRow[] = [
  {
    id: 'F1',
    title: 'retry after success: the model call after the charge fails, the app re-runs the generation',
    customers: ['ada'],
    expectedObjects: 1,
    maxMoneyUsd: 49.99,
    async play({ ids, tools, run }) {
      const charge: Turn = { calls: [chargeCall(ids.ada, 4999, 'ord_1001')] };
      // The model provider fails after the charge on the first attempt only.
      const attempts: Script[] = [
        [charge, { fails: new Error('the model provider is overloaded') }],
        [charge, { text: 'Charged Ada and sent the receipt.' }],
      ];
      const toolset = tools();
      const runs = [];
      // p-retry's pattern, by hand: the whole generation again until it succeeds.
      for (const script of attempts) {
        const played = await run(script, {
          tools: toolset,
          prompt: 'Charge Ada $49.99 for order 1001, then send the receipt.',
        });
        runs.push(played);
        if (!played.error) break;
      }
      return runs;
    },
    checkWithout(column) {
      expect(column.runs).toHaveLength(2);
      expect(column.charges).toBe(2); // charged again on the retry
      expect(column.moneyMovedUsd).toBe(99.98);
    },
    checkWith(column) {
      const [first, second] = column.runs;
      expect(first?.error).toBeInstanceOf(Error);
      expect(second?.error).toBeUndefined();
      expect(column.charges).toBe(1);
      expect(column.moneyMovedUsd).toBe(49.99);
      expect(column.executions).toBe(1);
      // The retried call, with its new tool call id, got the first call's result.
      const a = first?.outputs[0];
      const b = second?.outputs[0];
      expect(a?.toolCallId).not.toBe(b?.toolCallId);
      expect(outputOf(b)).toEqual(outputOf(a));
      expect(toolRows(column).map((r) => [r.decision, r.toolCallId])).toEqual([
        ['executed', a?.toolCallId],
        ['replayed', b?.toolCallId],
      ]);
    },
  },
  {
    id: 'F2',
    title: 'parallel duplicates: one model turn calls charge twice with the same input',
    customers: ['bob'],
    expectedObjects: 1,
    maxMoneyUsd: 120,
    async play({ ids, tools, run }) {
      const twice = [chargeCall(ids.bob, 12_000, 'ord_2001'), chargeCall(ids.bob, 12_000, 'ord_2001')];
      const script: Script = [{ calls: twice }, { text: 'Charged Bob $120.' }];
      return [await run(script, { tools: tools(), prompt: 'Charge Bob $120 for order 2001.' })];
    },
    checkWithout(column) {
      expect(column.charges).toBe(2);
    },
    checkWith(column) {
      expect(column.charges).toBe(1);
      expect(column.moneyMovedUsd).toBe(120);
      expect(column.executions).toBe(1);
      const [a, b] = column.runs[0]?.outputs ?? [];
      expect(outputOf(a).chargeId).toMatch(/^ch_/);
      expect(outputOf(b)).toEqual(outputOf(a));
      expect(
        toolRows(column)
          .map((r) => r.decision)
          .sort(),
      ).toEqual(['executed', 'replayed']);
    },
  },
  {
    id: 'F3',
    title: 'fan-out re-dispatch: 5 charges in one turn, one rate-limited, the model re-sends all 5',
    customers: ['c1', 'c2', 'c3', 'c4', 'c5'],
    expectedObjects: 5,
    maxMoneyUsd: 100,
    async play({ world, ids, tools, run }) {
      // c4's charge is rate-limited once; the model then re-sends the whole batch.
      world.fake.faults.inject(
        { kind: 'rate_limit' },
        { match: (req) => (req.params as { customer?: string }).customer === ids.c4 },
      );
      const batch = ['c1', 'c2', 'c3', 'c4', 'c5'].map((n) => chargeCall(ids[n], 2000, `inv_${n}`));
      const script: Script = [{ calls: batch }, { calls: batch }, { text: 'Billed all five.' }];
      return [await run(script, { tools: tools(), prompt: 'Bill the five customers $20 each.' })];
    },
    checkWithout(column) {
      expect(column.charges).toBe(9);
      expect(column.moneyMovedUsd).toBe(180);
    },
    checkWith(column) {
      expect(column.charges).toBe(5);
      expect(column.moneyMovedUsd).toBe(100);
      expect(column.executions).toBe(6); // 5, then c4 again
      const outcomes = column.runs[0]?.outputs ?? [];
      // c4's failure reached the model as a result it reads, not as a tool error.
      expect(outputOf(outcomes[3])).toMatchObject({ refused: true });
      expect(outcomes.slice(5).map((o) => outputOf(o).status)).toEqual(Array(5).fill('succeeded'));
    },
  },
  {
    id: 'F4',
    title: 'history replay: a new run over the stored conversation calls charge again with a new id',
    customers: ['dee'],
    expectedObjects: 1,
    maxMoneyUsd: 30,
    async play({ ids, tools, run }) {
      const charge: Turn = { calls: [chargeCall(ids.dee, 3000, 'ord_4001')] };
      const first = await run([charge, { text: 'Charged Dee $30.' }], {
        tools: tools(),
        prompt: 'Charge Dee $30 for order 4001.',
      });
      // Later, another request resumes the conversation, with a toolset of its own.
      const second = await run([charge, { text: 'Done.' }], {
        tools: tools(),
        prompt: 'Did that go through? If unsure, charge again.',
        resume: first,
      });
      return [first, second];
    },
    checkWithout(column) {
      expect(column.charges).toBe(2);
    },
    checkWith(column) {
      const [first, second] = column.runs;
      const a = first?.outputs[0];
      const b = second?.outputs[0];
      expect(second?.modelInputs[0]).toContain(a?.toolCallId); // the model saw the first charge
      expect(b?.toolCallId).not.toBe(a?.toolCallId);
      expect(column.charges).toBe(1);
      expect(outputOf(b)).toEqual(outputOf(a));
      const rows = toolRows(column);
      expect(rows.map((r) => r.decision)).toEqual(['executed', 'replayed']);
      // Two toolsets, two runs: deduplicated across the runs of the root key.
      expect(rows[0]?.runId).not.toBe(rows[1]?.runId);
    },
  },
  {
    id: 'F6',
    title: 'two runs, one key revoked after its first charge: it stops, the other keeps working',
    customers: ['ann', 'ben'],
    expectedObjects: 4,
    maxMoneyUsd: 40,
    async play({ ids, tools, run, runId, revoke }) {
      const chargeThree = (name: 'a' | 'b', customer: string | undefined) => {
        const id = runId(name);
        const abortController = new AbortController();
        const turns: Turn[] = [1, 2, 3].map((i) => ({ calls: [chargeCall(customer, 1000, `${id}_${i}`)] }));
        const script: Script = async (n) => {
          if (name === 'a' && n === 1) await revoke(id); // an operator pulls run A's key after its first step
          return turns[n] ?? { text: 'Charged three orders.' };
        };
        return run(script, {
          tools: tools({ runId: id, abortController }),
          prompt: 'Charge three orders.',
          abortController,
        });
      };
      return Promise.all([chargeThree('a', ids.ann), chargeThree('b', ids.ben)]);
    },
    checkWithout(column) {
      // Both runs hold the one real secret: nothing can stop run A alone.
      expect(column.charges).toBe(6);
    },
    checkWith(column, { world, runId }) {
      const [a, b] = column.runs;
      expect(a?.error).toMatchObject({ code: 'key_revoked' });
      expect(a?.modelInputs).toHaveLength(2); // no model call after the refused step
      expect(b?.error).toBeUndefined();
      expect(column.charges).toBe(4); // A's first, B's three
      const [runA, runB] = [runId('a'), runId('b')];
      expect(column.chargedOrders.sort()).toEqual([`${runA}_1`, `${runB}_1`, `${runB}_2`, `${runB}_3`]);
      // Audit rows attribute every call to its run and tool call, Stripe's own rows included.
      const aIds = a?.outputs.map((o) => o.toolCallId) ?? [];
      const bIds = b?.outputs.map((o) => o.toolCallId) ?? [];
      const of = (id: string) =>
        column.audit.filter((r) => r.runId === id).map((r) => [r.vendor, r.decision, r.code, r.toolCallId]);
      expect(of(runA)).toEqual(
        expect.arrayContaining([
          ['stripe', 'executed', 'executed', aIds[0]],
          ['tool', 'executed', 'executed', aIds[0]],
          ['tool', 'denied', 'key_revoked', expect.any(String)],
        ]),
      );
      expect(of(runA)).toHaveLength(3);
      expect(
        of(runB)
          .filter((r) => r[0] === 'stripe')
          .map((r) => r[3]),
      ).toEqual(bIds);
      expect(column.audit.every((r) => r.agentId === world.agentName)).toBe(true);
    },
  },
  {
    id: 'F7',
    title: 'stuck loop: six legal $25 charges against a $100 run cap',
    customers: ['cy'],
    expectedObjects: 4,
    maxMoneyUsd: 100,
    async play({ ids, tools, run, runId }) {
      const script: Script = [1, 2, 3, 4, 5, 6].map((i) => ({
        calls: [chargeCall(ids.cy, 2500, `ord_700${i}`)],
      }));
      const toolset = tools({ runId: runId('loop'), runKey: { caps: { perRun: 100 } } });
      return [await run(script, { tools: toolset, prompt: 'Charge Cy for every open order.' })];
    },
    checkWithout(column) {
      expect(column.moneyMovedUsd).toBe(150);
    },
    async checkWith(column, { world, runId }) {
      expect(column.charges).toBe(4);
      expect(column.moneyMovedUsd).toBe(100);
      const runKey = await world.runKey(runId('loop'));
      expect(runKey).toBeDefined();
      expect((await world.guard.spend(runKey?.id as string)).lifetimeUsd).toBe(100);
      const refusals = (column.runs[0]?.outputs ?? []).slice(4).map((o) => outputOf(o));
      expect(refusals).toHaveLength(2);
      for (const refusal of refusals) {
        expect(isToolRefusal(refusal)).toBe(true);
        expect(refusal.reason).toContain('cap');
      }
    },
  },
  {
    id: 'F8',
    title: 'parameter bleed: a $900 charge (max $500) and a charge in EUR (USD only)',
    customers: ['eve'],
    expectedObjects: 0,
    maxMoneyUsd: 0,
    async play({ ids, tools, run }) {
      const calls = [
        chargeCall(ids.eve, 90_000, 'ord_8001'),
        chargeCall(ids.eve, 1000, 'ord_8002', { currency: 'eur' }),
      ];
      const script: Script = [{ calls }, { text: 'I could not charge Eve.' }];
      return [await run(script, { tools: tools(), prompt: 'Charge Eve.' })];
    },
    checkWithout(column) {
      expect(column.charges).toBe(2);
    },
    checkWith(column) {
      expect(column.stripeRequests).toBe(0);
      expect(column.charges).toBe(0);
      const [played] = column.runs;
      const [tooMuch, euros] = (played?.outputs ?? []).map((o) => outputOf(o));
      // The model reads the policy's own code, not a vendor failure.
      expect(tooMuch).toMatchObject({
        refused: true,
        code: 'param_not_allowed',
        reason: expect.stringContaining('above the maximum 50000'),
      });
      expect(euros).toMatchObject({
        refused: true,
        code: 'param_not_allowed',
        reason: expect.stringContaining('eur'),
      });
      expect(tooMuch?.advice).toMatch(/retrying will not help/i);
      // The refusal is what the model reads on its next call.
      expect(played?.modelInputs[1]).toContain('above the maximum 50000');
    },
  },
];

/** Run ids unique to one adapter's rows in this process (a persistent store never issues a revoked run key again). */
export function runIds(adapter: string, row: AdapterRow, stamp: string): (name: string) => string {
  return (name) => `${adapter}-${row.id}-${name}-${stamp}`;
}

/**
 * One column of a row: a fresh fake Stripe with the row's customers, the workload through the
 * surface, then what it did — at the fake Stripe, in the toolsets and in the audit log.
 */
export async function playColumn<Tools, Result>(
  surface: AdapterSurface<Tools, Result>,
  row: AdapterRow,
  world: BillingWorld,
  governed: boolean,
  runId: (name: string) => string,
): Promise<ColumnTrace> {
  world.fake.reset();
  const ids = await world.customers(...row.customers);
  const requestsBefore = world.fake.ledger.requests.length;
  const seqBefore = (await world.guard.audit.list()).at(-1)?.seq ?? 0;
  const toolsets: BillingToolset<Tools>[] = [];
  const bench: Bench<Tools, Result> = {
    world,
    ids,
    runId,
    tools(options = {}) {
      const toolset = surface.tools(world, { ...options, governed });
      toolsets.push(toolset);
      return toolset;
    },
    async run(script, { tools, prompt, resume, abortController }) {
      const result = await surface.run(script, {
        tools: tools.tools,
        prompt,
        ...(resume && { resume: resume.result }),
        ...(abortController && { abortSignal: abortController.signal }),
      });
      return {
        result,
        outputs: surface.outputs(result),
        error: surface.error(result),
        modelInputs: surface.modelInputs(result),
      };
    },
    revoke: async (id) => {
      if (governed) await world.revokeRun(id);
    },
  };
  const runs = await row.play(bench);
  const audit = governed ? await world.guard.audit.list({ afterSeq: seqBefore }) : [];
  // One row per tool call, like `attempted`: a refused Stripe call inside a tool writes a row of
  // its own, which would count the same refusal twice.
  const toolAudit = audit.filter((r) => r.vendor === 'tool');
  const { ledger } = world.fake;
  return {
    runs,
    attempted: runs.reduce((n, r) => n + r.outputs.length, 0),
    objects: ledger.movements.length,
    moneyMovedUsd: ledger.movements.reduce((sum, m) => sum + m.amount, 0) / 100,
    replays: toolAudit.filter((r) => r.decision === 'replayed').length,
    denials: toolAudit.filter((r) => r.decision === 'denied').length,
    charges: ledger.count('charge'),
    chargedOrders: ledger.list('charge').map((c) => (c.metadata as { order_id: string }).order_id),
    stripeRequests: ledger.requests.length - requestsBefore,
    executions: toolsets.reduce((n, t) => n + t.stats.executions, 0),
    audit,
  };
}
