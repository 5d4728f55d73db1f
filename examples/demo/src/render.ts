import type { AuditRow } from '@spendguard/core';
import { type DemoColumn, type DemoRow, verdict } from '@spendguard/testkit/adapters';

/** Left-aligned text columns; numbers right-aligned. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.every((r) => /^[-$\d.,]*$/.test(r[i] ?? '')));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const usd = (n: number) => `$${n.toFixed(2)}`;

function cells(c: DemoColumn): string[] {
  return [String(c.attempted), String(c.objects), usd(c.moneyMovedUsd), String(c.replays), String(c.denials)];
}

export function renderTable(results: DemoRow[]): string {
  const header = ['scenario', 'run', 'calls', 'objects', 'money moved', 'replays', 'denials', 'verdict'];
  const rows: string[][] = [];
  for (const r of results) {
    rows.push([r.id, 'without', ...cells(r.without), verdict(r, r.without)]);
    rows.push(['', 'with spendguard', ...cells(r.with), verdict(r, r.with)]);
  }
  return `${table(header, rows)}\n\n${results.map((r) => `${r.id}  ${r.title}`).join('\n')}`;
}

export function renderAudit(rows: AuditRow[]): string {
  return table(
    ['seq', 'decision', 'code', 'operation', 'est. USD', 'actual USD', 'status', 'idempotency key'],
    rows.map((r) => [
      String(r.seq),
      r.decision,
      r.code,
      r.operation ?? '',
      r.estimatedCostUsd === null ? '' : usd(r.estimatedCostUsd),
      r.actualCostUsd === null ? '' : usd(r.actualCostUsd),
      r.upstreamStatus === null ? '' : String(r.upstreamStatus),
      `${(r.idempotencyKey ?? '').slice(0, 16)}…`,
    ]),
  );
}
