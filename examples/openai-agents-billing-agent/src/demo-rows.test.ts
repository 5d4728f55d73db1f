import { MemoryStore } from '@spendguard/core';
import type { DemoRow } from '@spendguard/testkit/adapters';
import { describe, expect, it } from 'vitest';
import { runOpenAiAgentsDemoRows } from './index.ts';

describe('runOpenAiAgentsDemoRows', () => {
  it('shows every row going wrong without spendguard and right with it, through the real SDK loop', async () => {
    const store = new MemoryStore();
    const reported: DemoRow[] = [];
    const rows = await runOpenAiAgentsDemoRows({ store, onRow: (row) => reported.push(row) });
    expect(reported).toEqual(rows);
    expect(rows.map((r) => r.id)).toEqual([
      'openai-agents/F1',
      'openai-agents/F2',
      'openai-agents/F3',
      'openai-agents/F4',
      'openai-agents/F6',
      'openai-agents/F7',
      'openai-agents/F8',
    ]);
    expect(rows[0]?.title).toMatch(/^OpenAI Agents: /);
    const byId = Object.fromEntries(rows.map((r) => [r.id.slice('openai-agents/'.length), r]));
    for (const row of rows) {
      // Without: a duplicate or an overspend. With: neither.
      const bad = row.without.objects > row.expectedObjects || row.without.moneyMovedUsd > row.maxMoneyUsd;
      expect(bad, `${row.id} without`).toBe(true);
      expect(row.with.objects, `${row.id} with`).toBe(row.expectedObjects);
      expect(row.with.moneyMovedUsd, `${row.id} with`).toBeLessThanOrEqual(row.maxMoneyUsd);
      expect(row.audit.length, `${row.id} audit`).toBeGreaterThan(0);
    }
    expect(byId.F1?.with).toMatchObject({ attempted: 2, objects: 1, moneyMovedUsd: 49.99, replays: 1 });
    expect(byId.F2?.with).toMatchObject({ attempted: 2, objects: 1, replays: 1 });
    expect(byId.F3?.without).toMatchObject({ attempted: 10, objects: 9 });
    expect(byId.F3?.with).toMatchObject({ attempted: 10, objects: 5, moneyMovedUsd: 100, replays: 4 });
    expect(byId.F4?.with).toMatchObject({ objects: 1, replays: 1 });
    expect(byId.F6?.without.objects).toBe(6);
    expect(byId.F6?.with).toMatchObject({ objects: 4, denials: 1 });
    expect(byId.F6?.audit.find((r) => r.code === 'key_revoked')?.runId).toMatch(/^openai-agents-F6-a-/);
    expect(byId.F7?.with).toMatchObject({ objects: 4, moneyMovedUsd: 100, denials: 2 });
    expect(byId.F8?.with).toMatchObject({ objects: 0, moneyMovedUsd: 0, denials: 2 });
    // The caller's store is left open for the rest of the demo.
    await expect(store.getCounter('anything')).resolves.toBe(0);
    await store.close();
  });
});
