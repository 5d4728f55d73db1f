import {
  type AdapterRowsOptions,
  BillingWorld,
  type DemoColumn,
  type DemoRow,
} from '@spendguard/testkit/adapters';
import { MASTRA_ROWS, type MastraColumn, playMastraColumn } from './mastra-rows.ts';

/** The counts `pnpm demo` shows of a column (not the Mastra details the tests read). */
function demoColumn(column: MastraColumn): DemoColumn {
  const { attempted, objects, moneyMovedUsd, replays, denials } = column;
  return { attempted, objects, moneyMovedUsd, replays, denials };
}

/**
 * Mastra's own ways of running a charge twice, for `pnpm demo` (`mastra/W1` … `mastra/W4`): a
 * workflow step's `retries`, parallel branches, a `foreach` re-run, an agent's memory on a resumed
 * thread — each played without and then with spendguard against a fake Stripe on loopback,
 * counted, not asserted (the tests assert them). The companion of `runAdapterRows('mastra', …)`,
 * which plays the shared table's rows.
 */
export async function runMastraRows(options: Omit<AdapterRowsOptions, 'framework'> = {}): Promise<DemoRow[]> {
  const world = new BillingWorld(options.store ? { store: options.store } : {});
  await world.start();
  const rows: DemoRow[] = [];
  try {
    const wanted = MASTRA_ROWS.filter(
      (r) => !options.only || options.only.includes(r.id) || options.only.includes(`mastra/${r.id}`),
    );
    for (const row of wanted) {
      const without = await playMastraColumn(row, world, false);
      const withGuard = await playMastraColumn(row, world, true);
      const result: DemoRow = {
        id: `mastra/${row.id}`,
        title: `Mastra: ${row.title}`,
        without: demoColumn(without),
        with: demoColumn(withGuard),
        expectedObjects: row.expectedObjects,
        maxMoneyUsd: row.maxMoneyUsd,
        audit: withGuard.audit,
      };
      rows.push(result);
      options.onRow?.(result);
    }
  } finally {
    await world.stop();
  }
  return rows;
}
