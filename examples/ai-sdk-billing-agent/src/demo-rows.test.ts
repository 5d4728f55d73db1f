import { MemoryStore } from '@spendguard/core';
import { describe, expect, it } from 'vitest';
import { runAiSdkDemoRows } from './demo-rows.ts';

describe('runAiSdkDemoRows', () => {
  it('shows every row going wrong without spendguard and right with it, through the real AI SDK loop', async () => {
    const store = new MemoryStore();
    const rows = await runAiSdkDemoRows({ store });
    expect(rows.map((r) => r.id)).toEqual([
      'ai-sdk/F1',
      'ai-sdk/F2',
      'ai-sdk/F3',
      'ai-sdk/F4',
      'ai-sdk/F6',
      'ai-sdk/F7',
      'ai-sdk/F8',
    ]);
    const byId = Object.fromEntries(rows.map((r) => [r.id.slice(7), r]));
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
    expect(byId.F6?.audit.find((r) => r.code === 'key_revoked')?.runId).toMatch(/^ai-sdk-F6-a-/);
    expect(byId.F7?.with).toMatchObject({ objects: 4, moneyMovedUsd: 100 });
    expect(byId.F7?.with.denials).toBe(2);
    expect(byId.F8?.with).toMatchObject({ objects: 0, moneyMovedUsd: 0 });
    expect(byId.F8?.with.denials).toBe(2);
    // The caller's store is left open for the rest of the demo.
    await expect(store.getCounter('anything')).resolves.toBe(0);
    await store.close();
  });
});
