import { MemoryStore } from '@spendguard/core';
import { describe, expect, it } from 'vitest';
import { runMastraDemoRows } from './demo-rows.ts';

describe('runMastraDemoRows', () => {
  it('shows every row going wrong without spendguard and right with it, through a real Mastra agent and Mastra workflows', async () => {
    const store = new MemoryStore();
    const seen: string[] = [];
    const rows = await runMastraDemoRows({ store, onRow: (row) => seen.push(row.id) });
    expect(rows.map((r) => r.id)).toEqual([
      'mastra/F1',
      'mastra/F2',
      'mastra/F3',
      'mastra/F4',
      'mastra/F6',
      'mastra/F7',
      'mastra/F8',
      'mastra/W1',
      'mastra/W2',
      'mastra/W3',
      'mastra/W4',
    ]);
    expect(seen).toEqual(rows.map((r) => r.id));
    const byId = Object.fromEntries(rows.map((r) => [r.id.slice('mastra/'.length), r]));
    for (const row of rows) {
      // Without: a duplicate or an overspend. With: neither.
      const bad = row.without.objects > row.expectedObjects || row.without.moneyMovedUsd > row.maxMoneyUsd;
      expect(bad, `${row.id} without`).toBe(true);
      expect(row.with.objects, `${row.id} with`).toBe(row.expectedObjects);
      expect(row.with.moneyMovedUsd, `${row.id} with`).toBeLessThanOrEqual(row.maxMoneyUsd);
      expect(row.audit.length, `${row.id} audit`).toBeGreaterThan(0);
      expect(row.title.startsWith('Mastra: ')).toBe(true);
    }
    expect(byId.F1?.with).toMatchObject({ attempted: 2, objects: 1, moneyMovedUsd: 49.99, replays: 1 });
    expect(byId.F2?.with).toMatchObject({ attempted: 2, objects: 1, replays: 1 });
    expect(byId.F3?.without).toMatchObject({ attempted: 10, objects: 9 });
    expect(byId.F3?.with).toMatchObject({ attempted: 10, objects: 5, moneyMovedUsd: 100, replays: 4 });
    expect(byId.F4?.with).toMatchObject({ objects: 1, replays: 1 });
    expect(byId.F6?.without.objects).toBe(6);
    expect(byId.F6?.with).toMatchObject({ objects: 4, denials: 1 });
    expect(byId.F6?.audit.find((r) => r.code === 'key_revoked')?.runId).toMatch(/^mastra-F6-a-/);
    expect(byId.F7?.with).toMatchObject({ objects: 4, moneyMovedUsd: 100, denials: 2 });
    expect(byId.F8?.with).toMatchObject({ objects: 0, moneyMovedUsd: 0, denials: 2 });
    // Mastra's own re-runs: a step's retries, parallel branches, a foreach re-run, a resumed thread.
    expect(byId.W1?.with).toMatchObject({ objects: 1, moneyMovedUsd: 49.99 });
    expect(byId.W2?.with).toMatchObject({ objects: 1, moneyMovedUsd: 120 });
    expect(byId.W3?.with).toMatchObject({ objects: 5, moneyMovedUsd: 100 });
    expect(byId.W4?.with).toMatchObject({ objects: 1, moneyMovedUsd: 30 });
    // Both kinds of row wrote to the caller's store.
    const audited = new Set((await store.readAudit()).map((a) => a.seq));
    for (const id of ['F1', 'W1'])
      for (const a of byId[id]?.audit ?? []) expect(audited.has(a.seq)).toBe(true);
    // The caller's store is left open for the rest of the demo.
    await expect(store.getCounter('anything')).resolves.toBe(0);
    await store.close();
  });
});
