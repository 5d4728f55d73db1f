import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGuard, type PolicyDocument, SqliteStore } from '@spendguard/core';
import { afterAll, describe, expect, it } from 'vitest';
import { race } from './support/race.ts';
import type { WorkerConfig } from './support/race-worker.ts';

const dir = mkdtempSync(join(tmpdir(), 'spendguard-mp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function policies(capUsd: number): PolicyDocument {
  return {
    policies: { billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perKey: capUsd } } },
  } as PolicyDocument;
}

async function setup(name: string, capUsd: number) {
  const file = join(dir, `${name}.db`);
  const guard = createGuard({ policies: policies(capUsd), store: new SqliteStore({ file }) });
  const root = await guard.keys.issueRoot({ policy: 'billing' });
  const base = { store: { kind: 'sqlite', file }, policies: policies(capUsd), token: root.token } as const;
  return { guard, root, base };
}

describe('four OS processes sharing one SQLite file', () => {
  it('admit exactly 37 of 200 calls racing for one cap, 0 overspend to the cent', async () => {
    const { guard, root, base } = await setup('cap', 88);
    const configs: WorkerConfig[] = [0, 1, 2, 3].map((worker) => ({
      ...base,
      mode: 'distinct',
      calls: 50,
      cents: 235,
      worker,
      vendorDelayMs: 1,
      startJitterMs: 30,
    }));
    const reports = await race(configs);
    const executed = reports.reduce((n, r) => n + (r.decisions.executed ?? 0), 0);
    const capped = reports.reduce((n, r) => n + (r.decisions.cap_exceeded ?? 0), 0);
    expect(executed).toBe(37);
    expect(capped).toBe(163);
    expect(reports.reduce((n, r) => n + r.vendorCalls, 0)).toBe(37);
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(86.95);
    // More than one process won some of the cap: this was a real race, not one process taking all.
    expect(reports.filter((r) => (r.decisions.executed ?? 0) > 0).length).toBeGreaterThan(1);
    expect(await guard.audit.verify()).toEqual({ ok: true, rows: 200 });
    await guard.close();
  });

  it('run the vendor once for 4 × 25 identical calls, and every call gets its result', async () => {
    const { guard, base } = await setup('dup', 1000);
    const configs: WorkerConfig[] = [0, 1, 2, 3].map((worker) => ({
      ...base,
      mode: 'identical',
      calls: 25,
      cents: 500,
      worker,
      vendorDelayMs: 50,
    }));
    const reports = await race(configs);
    expect(reports.reduce((n, r) => n + r.vendorCalls, 0)).toBe(1);
    const ids = reports.flatMap((r) => r.resultIds);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(1);
    await guard.close();
  });
});
