import type { AuditRow } from '@spendguard/core';

/** What one column of a `pnpm demo` row counts: one workload, without or with spendguard. */
export interface DemoColumn {
  /** Tool calls (or vendor calls) the workload made. */
  attempted: number;
  /** Money movements and messages at the fake vendors. */
  objects: number;
  moneyMovedUsd: number;
  /** Calls that got a stored result instead of running again. */
  replays: number;
  /** Calls that were refused. */
  denials: number;
}

/** One row of `pnpm demo`: a failure mode, without and with spendguard. */
export interface DemoRow {
  id: string;
  title: string;
  without: DemoColumn;
  with: DemoColumn;
  /** Vendor objects a correct run creates; more is a duplicate. */
  expectedObjects: number;
  /** The most money a correct run moves, in USD; more is an overspend. */
  maxMoneyUsd: number;
  /** Audit rows of the run with spendguard. */
  audit: AuditRow[];
}

/** How far a column went past what a correct run does. */
export function overrun(
  row: Pick<DemoRow, 'expectedObjects' | 'maxMoneyUsd'>,
  column: Pick<DemoColumn, 'objects' | 'moneyMovedUsd'>,
): { extraObjects: number; overUsd: number } {
  const overUsd = column.moneyMovedUsd - row.maxMoneyUsd;
  // Sums of cents in floating point: a hair over the limit is not an overspend.
  return {
    extraObjects: Math.max(0, column.objects - row.expectedObjects),
    overUsd: overUsd > 1e-9 ? overUsd : 0,
  };
}

/** `ok`, or the duplicate and the overspend a column shows: `1 extra object, $49.99 over`. */
export function verdict(
  row: Pick<DemoRow, 'expectedObjects' | 'maxMoneyUsd'>,
  column: Pick<DemoColumn, 'objects' | 'moneyMovedUsd'>,
): string {
  const { extraObjects, overUsd } = overrun(row, column);
  const problems: string[] = [];
  if (extraObjects > 0) problems.push(`${extraObjects} extra object${extraObjects > 1 ? 's' : ''}`);
  if (overUsd > 0) problems.push(`$${overUsd.toFixed(2)} over`);
  return problems.join(', ') || 'ok';
}
