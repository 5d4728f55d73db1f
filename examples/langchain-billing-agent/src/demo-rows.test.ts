import { MemoryStore } from '@spendguard/core';
import type { DemoRow } from '@spendguard/testkit/adapters';
import { describe, expect, it } from 'vitest';
import { runLangChainDemoRows } from './demo-rows.ts';

describe('runLangChainDemoRows', () => {
  it('shows every row going wrong without spendguard and right with it, through a real createAgent graph', async () => {
    const store = new MemoryStore();
    const seen: DemoRow[] = [];
    const rows = await runLangChainDemoRows({ store, onRow: (row) => seen.push(row) });
    expect(rows.map((r) => r.id)).toEqual([
      'langchain/F1',
      'langchain/F2',
      'langchain/F3',
      'langchain/F4',
      'langchain/F6',
      'langchain/F7',
      'langchain/F8',
    ]);
    expect(seen).toEqual(rows);
    expect(rows[0]?.title).toMatch(/^LangChain: /);
    const byId = Object.fromEntries(rows.map((r) => [r.id.slice('langchain/'.length), r]));
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
    expect(byId.F6?.audit.find((r) => r.code === 'key_revoked')?.runId).toMatch(/^langchain-F6-a-/);
    expect(byId.F7?.with).toMatchObject({ objects: 4, moneyMovedUsd: 100, denials: 2 });
    expect(byId.F8?.with).toMatchObject({ objects: 0, moneyMovedUsd: 0, denials: 2 });
    // Audit rows name the agent and each call's thread-bound run.
    expect(byId.F2?.audit.every((r) => r.agentId === 'billing-agent')).toBe(true);
    // The caller's store is left open for the rest of the demo.
    await expect(store.getCounter('anything')).resolves.toBe(0);
    await store.close();
  });
});
