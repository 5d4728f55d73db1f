import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '@spendguard/core';
import { afterAll, expect, it } from 'vitest';
import { renderTable } from './render.ts';
import { runDemo, violations } from './scenarios.ts';

const dir = mkdtempSync(join(tmpdir(), 'spendguard-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('shows every failure mode without spendguard, and none with it', async () => {
  const results = await runDemo({ store: new SqliteStore({ file: join(dir, 'demo.db') }) });
  const byId = Object.fromEntries(results.map((r) => [r.id, r]));
  expect(Object.keys(byId)).toEqual(['F1', 'F2', 'F3', 'F5', 'F7', 'F8']);

  // Without spendguard, each workload duplicates or overspends.
  expect(byId.F1?.without).toMatchObject({ objects: 2, moneyMovedUsd: 99.98 });
  expect(byId.F2?.without).toMatchObject({ objects: 2, moneyMovedUsd: 240 });
  expect(byId.F3?.without).toMatchObject({ objects: 8, moneyMovedUsd: 160 });
  expect(byId.F5?.without).toMatchObject({ objects: 2, moneyMovedUsd: 150 });
  expect(byId.F7?.without).toMatchObject({ objects: 20, moneyMovedUsd: 300 });
  expect(byId.F8?.without).toMatchObject({ objects: 2, moneyMovedUsd: 900 });

  // With it: exactly the right objects and money, and the replays and denials that did it.
  expect(byId.F1?.with).toEqual({ attempted: 2, objects: 1, moneyMovedUsd: 49.99, replays: 1, denials: 0 });
  expect(byId.F2?.with).toEqual({ attempted: 2, objects: 1, moneyMovedUsd: 120, replays: 1, denials: 0 });
  expect(byId.F3?.with).toEqual({ attempted: 8, objects: 5, moneyMovedUsd: 100, replays: 3, denials: 0 });
  expect(byId.F5?.with).toMatchObject({ objects: 1, moneyMovedUsd: 75 });
  expect(byId.F7?.with).toEqual({ attempted: 20, objects: 6, moneyMovedUsd: 90, replays: 0, denials: 14 });
  expect(byId.F8?.with).toEqual({ attempted: 2, objects: 0, moneyMovedUsd: 0, replays: 0, denials: 2 });
  expect(violations(results)).toEqual([]);

  // F5's audit: the timed-out attempt, then the re-send under the same idempotency key.
  const f5 = byId.F5?.audit ?? [];
  expect(f5.map((r) => r.code)).toEqual(['outcome_unknown', 'executed']);
  expect(f5[0]?.idempotencyKey).toBe(f5[1]?.idempotencyKey);

  const lines = renderTable(results).split('\n');
  const f1 = lines.findIndex((l) => l.startsWith('F1 '));
  expect(lines[f1]).toMatch(/without\s+2\s+2\s+\$99\.98\s+0\s+0\s+1 extra object, \$49\.99 over$/);
  expect(lines[f1 + 1]).toMatch(/with spendguard\s+2\s+1\s+\$49\.99\s+1\s+0\s+ok$/);
});

it('flags a duplicate or an overspend in the spendguard column', () => {
  const column = { attempted: 2, objects: 2, moneyMovedUsd: 40, replays: 0, denials: 0 };
  expect(
    violations([
      { id: 'FX', title: 't', without: column, with: column, expectedObjects: 1, maxMoneyUsd: 20, audit: [] },
    ]),
  ).toEqual(['FX: 2 vendor objects, expected 1', 'FX: $40 moved, at most $20']);
});
