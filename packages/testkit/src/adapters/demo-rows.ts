import type { AuditRow, Store } from '@spendguard/core';
import { BillingWorld } from './billing-world.ts';
import { ADAPTER_ROWS, playColumn, runIds } from './rows.ts';
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

/** What a demo table's row needs for `playDemoRows`: its id, title and what a correct run does. */
export interface DemoTableRow {
  id: string;
  title: string;
  expectedObjects: number;
  maxMoneyUsd: number;
}

/**
 * Play each wanted row of `table` without and then with spendguard in a fresh billing world (its
 * store from `options`), and report each as a `DemoRow` (`<prefix>/<id>`, `<titlePrefix>: <title>`)
 * with only the counts `pnpm demo` shows. `play` runs one column and returns its trace.
 */
export async function playDemoRows<Row extends DemoTableRow>(
  table: readonly Row[],
  labels: { prefix: string; titlePrefix: string },
  options: Omit<AdapterRowsOptions, 'framework'>,
  play: (row: Row, world: BillingWorld, withGuard: boolean) => Promise<DemoColumn & { audit: AuditRow[] }>,
): Promise<DemoRow[]> {
  const world = new BillingWorld(options.store ? { store: options.store } : {});
  await world.start();
  const rows: DemoRow[] = [];
  try {
    const { only } = options;
    const wanted = table.filter(
      (r) => !only || only.includes(r.id) || only.includes(`${labels.prefix}/${r.id}`),
    );
    for (const row of wanted) {
      const without = await play(row, world, false);
      const withGuard = await play(row, world, true);
      const result: DemoRow = {
        id: `${labels.prefix}/${row.id}`,
        title: `${labels.titlePrefix}: ${row.title}`,
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

function demoColumn(trace: DemoColumn): DemoColumn {
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
  const stamp = Date.now().toString(36);
  return playDemoRows(
    ADAPTER_ROWS,
    { prefix: name, titlePrefix: options.framework ?? name },
    options,
    (row, world, withGuard) => playColumn(surface, row, world, withGuard, runIds(name, row, stamp)),
  );
}
