import type { Store } from '@spendguard/core';
import { BillingWorld } from './billing-world.ts';
import { ADAPTER_ROWS, type ColumnTrace, playColumn, runIds } from './rows.ts';
import type { AdapterSurface } from './surface.ts';
import type { DemoColumn, DemoRow } from './table.ts';

export interface AdapterRowsOptions {
  /** The framework's name in row titles, e.g. `AI SDK`. Default: the adapter's name. */
  framework?: string;
  /** The guard's store. A store passed here is left open. Default: a MemoryStore. */
  store?: Store;
  /** Run only these rows (`F1`, `<name>/F1`, …). Default: all. */
  only?: string[];
  onRow?: (row: DemoRow) => void;
}

function demoColumn(trace: ColumnTrace): DemoColumn {
  const { attempted, objects, moneyMovedUsd, replays, denials } = trace;
  return { attempted, objects, moneyMovedUsd, replays, denials };
}

/**
 * The same rows as `describeAdapterBehaviour`, for `pnpm demo`: each played without and then with
 * spendguard through the framework's real loop, counted, not asserted. Row ids are `<name>/F1` ….
 */
export async function runAdapterRows<Tools, Result>(
  name: string,
  surface: AdapterSurface<Tools, Result>,
  options: AdapterRowsOptions = {},
): Promise<DemoRow[]> {
  const world = new BillingWorld(options.store ? { store: options.store } : {});
  await world.start();
  const stamp = Date.now().toString(36);
  const rows: DemoRow[] = [];
  try {
    const wanted = ADAPTER_ROWS.filter(
      (r) => !options.only || options.only.includes(r.id) || options.only.includes(`${name}/${r.id}`),
    );
    for (const row of wanted) {
      const runId = runIds(name, row, stamp);
      const without = await playColumn(surface, row, world, false, runId);
      const withGuard = await playColumn(surface, row, world, true, runId);
      const result: DemoRow = {
        id: `${name}/${row.id}`,
        title: `${options.framework ?? name}: ${row.title}`,
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
