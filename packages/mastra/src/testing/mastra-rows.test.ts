import { BillingWorld, verdict } from '@spendguard/testkit/adapters';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AgentRun } from './drive.ts';
import { MASTRA_ROWS, type MastraColumn, type MastraRow, playMastraColumn } from './mastra-rows.ts';

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

function row(id: string): MastraRow {
  const found = MASTRA_ROWS.find((r) => r.id === id);
  if (!found) throw new Error(`no row ${id}`);
  return found;
}

/** Both columns of a row: the duplicate happens without spendguard, not with it. */
async function columns(id: string): Promise<{ without: MastraColumn; with: MastraColumn }> {
  const r = row(id);
  const without = await playMastraColumn(r, world, false);
  expect(verdict(r, without), `${id} without`).not.toBe('ok');
  const withGuard = await playMastraColumn(r, world, true);
  expect(verdict(r, withGuard), `${id} with`).toBe('ok');
  expect(withGuard.objects).toBe(r.expectedObjects);
  return { without, with: withGuard };
}

interface WorkflowResult {
  status: string;
  result?: unknown;
  error?: { message?: string };
  steps?: Record<string, { status?: string; output?: unknown }>;
}

describe('Mastra rows: the framework’s own ways of running a charge twice', () => {
  it('W1 workflow step retries: the retried step charges again without spendguard; once with it', async () => {
    const { without, with: guarded } = await columns('W1');
    expect(without.charges).toBe(2);
    expect((without.detail.result as WorkflowResult).status).toBe('success');

    const result = guarded.detail.result as WorkflowResult;
    expect(result.status).toBe('success');
    expect(guarded.charges).toBe(1);
    // The step really ran twice (Mastra's retry), the Stripe call inside it once.
    expect(guarded.executions).toBe(2);
    expect(guarded.detail.bookings).toBe(2);
    const [paid] = world.fake.ledger.list('charge');
    expect(result.result).toMatchObject({ chargeId: paid?.id, status: 'succeeded' });
    // The run is the workflow run, kept across the retry; the failed attempt is on record.
    const runId = guarded.detail.runId as string;
    expect(guarded.audit.map((r) => [r.vendor, r.decision, r.runId])).toEqual([
      ['stripe', 'executed', runId],
      ['tool', 'failed', runId],
      ['stripe', 'replayed', runId],
      ['tool', 'executed', runId],
    ]);
    expect(guarded.audit[1]?.message).toContain('the orders database timed out');
  });

  it('W2 parallel steps: both branches charge without spendguard; once with it, both get the charge', async () => {
    const { without, with: guarded } = await columns('W2');
    expect(without.charges).toBe(2);
    const result = guarded.detail.result as WorkflowResult;
    expect(result.status).toBe('success');
    const outputs = result.result as Record<string, { chargeId: string }>;
    expect(Object.keys(outputs).sort()).toEqual(['charge', 'charge-on-fulfilment']);
    expect(outputs.charge?.chargeId).toMatch(/^ch_/);
    expect(outputs['charge-on-fulfilment']).toEqual(outputs.charge);
    expect(guarded.executions).toBe(1);
    expect(
      guarded.audit
        .filter((r) => r.vendor === 'tool')
        .map((r) => r.decision)
        .sort(),
    ).toEqual(['executed', 'replayed']);
  });

  it('W3 foreach re-run: the re-run charges the four again without spendguard; only the fifth with it', async () => {
    const { without, with: guarded } = await columns('W3');
    expect(without.charges).toBe(9);
    const first = guarded.detail.first as WorkflowResult;
    const second = guarded.detail.second as WorkflowResult;
    // c4's 429 failed the first run as Stripe's own error (a step failure Mastra may retry).
    expect(first.status).toBe('failed');
    expect(first.error?.message).toMatch(/rate|429|too many/i);
    expect(second.status).toBe('success');
    expect(guarded.charges).toBe(5);
    expect(guarded.chargedOrders.sort()).toEqual(['inv_c1', 'inv_c2', 'inv_c3', 'inv_c4', 'inv_c5']);
    expect(guarded.moneyMovedUsd).toBe(100);
    expect(guarded.replays).toBe(4);
    expect(second.result).toEqual(
      expect.arrayContaining([expect.objectContaining({ status: 'succeeded', amountCents: 2000 })]),
    );
  });

  it('W4 agent memory: the resumed thread’s model charges again without spendguard; replayed with it', async () => {
    const { without, with: guarded } = await columns('W4');
    expect(without.charges).toBe(2);
    const [first, second] = guarded.detail.runs as AgentRun[];
    const prompts = guarded.detail.prompts as string[][];
    const a = first?.calls[0];
    const b = second?.calls[0];
    // The second request's model read the first charge from memory, and charged again anyway.
    expect(prompts[1]?.[0]).toContain(a?.toolCallId);
    expect(b?.toolCallId).not.toBe(a?.toolCallId);
    expect(guarded.charges).toBe(1);
    expect(b?.output).toEqual(a?.output);
    const toolRows = guarded.audit.filter((r) => r.vendor === 'tool');
    expect(toolRows.map((r) => [r.decision, r.toolCallId])).toEqual([
      ['executed', a?.toolCallId],
      ['replayed', b?.toolCallId],
    ]);
    // Each request is its own Mastra run; the dedup is across the root key's runs.
    expect(toolRows[0]?.runId).toBe(first?.runId);
    expect(toolRows[1]?.runId).toBe(second?.runId);
    expect(first?.runId).not.toBe(second?.runId);
  });
});
