import { MemoryStore } from '@spendguard/core';
import { type DemoRow, verdict } from '@spendguard/testkit/adapters';
import { describe, expect, it } from 'vitest';
import { runMastraRows } from './mastra-demo-rows.ts';

describe('runMastraRows: the Mastra rows of `pnpm demo`', () => {
  it('plays the chosen rows without and with spendguard: the duplicate shows only without', async () => {
    const seen: string[] = [];
    const rows = await runMastraRows({ only: ['mastra/W1', 'W2'], onRow: (r) => seen.push(r.id) });
    expect(rows.map((r) => r.id)).toEqual(['mastra/W1', 'mastra/W2']);
    expect(seen).toEqual(['mastra/W1', 'mastra/W2']);
    for (const row of rows) {
      expect(row.title).toMatch(/^Mastra: /);
      expect(verdict(row, row.without), `${row.id} without`).toMatch(/1 extra object/);
      expect(verdict(row, row.with), `${row.id} with`).toBe('ok');
      expect(row.with.objects).toBe(row.expectedObjects);
      // The audit rows of the run with spendguard, as the demo prints them; none from the other column.
      expect(row.audit.map((a) => a.vendor)).toContain('stripe');
    }
  });

  it('writes to the demo’s store and leaves it open', async () => {
    const store = new MemoryStore();
    const rows: DemoRow[] = await runMastraRows({ store, only: ['W2'] });
    expect(rows).toHaveLength(1);
    expect((await store.readAudit()).map((a) => a.seq)).toEqual(rows[0]?.audit.map((a) => a.seq));
  });
});
