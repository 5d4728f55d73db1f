import { fileURLToPath } from 'node:url';
import { createGuard, type PolicyDocument } from '@spendguard/core';
import { afterAll, describe, expect, it } from 'vitest';
import { testSchemas } from '../packages/postgres/src/test-support.ts';
import type { PostgresFactoryArgs } from './support/postgres-store-factory.ts';
import { race } from './support/race.ts';
import type { WorkerConfig } from './support/race-worker.ts';

const FACTORY = fileURLToPath(new URL('./support/postgres-store-factory.ts', import.meta.url));
const db = testSchemas();
afterAll(() => db.dropAll());

function policies(capUsd: number): PolicyDocument {
  return {
    policies: { billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perKey: capUsd } } },
  } as PolicyDocument;
}

async function setup(capUsd: number) {
  const schema = db.schema('sg_mp');
  const store = await db.store({ schema });
  const guard = createGuard({ policies: policies(capUsd), store });
  const root = await guard.keys.issueRoot({ policy: 'billing' });
  // Five connections per worker: 4 × 5 stay well inside the server's max_connections.
  const args: PostgresFactoryArgs = { url: db.url, schema, max: 5 };
  const base = {
    store: { kind: 'module', path: FACTORY, args },
    policies: policies(capUsd),
    token: root.token,
  } as const;
  return { guard, root, base };
}

describe('four OS processes sharing one Postgres schema', () => {
  it('admit exactly 137 of 400 calls racing for one cap, 0 overspend to the cent', async () => {
    // $2.35 each: 137 calls are $321.95, a 138th would be $324.30 > $322.
    const { guard, root, base } = await setup(322);
    const configs: WorkerConfig[] = [0, 1, 2, 3].map((worker) => ({
      ...base,
      mode: 'distinct',
      calls: 100,
      cents: 235,
      worker,
      vendorDelayMs: 1,
    }));
    const reports = await race(configs);
    const executed = reports.reduce((n, r) => n + (r.decisions.executed ?? 0), 0);
    const capped = reports.reduce((n, r) => n + (r.decisions.cap_exceeded ?? 0), 0);
    expect(executed).toBe(137);
    expect(capped).toBe(263);
    expect(reports.reduce((n, r) => n + r.vendorCalls, 0)).toBe(137);
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(321.95);
    // More than one process won some of the cap: this was a real race, not one process taking all.
    expect(reports.filter((r) => (r.decisions.executed ?? 0) > 0).length).toBeGreaterThan(1);
    expect(await guard.audit.verify()).toEqual({ ok: true, rows: 400 });
    await guard.close();
  });

  it('run the vendor once for 4 × 25 identical calls, and every call gets its result', async () => {
    const { guard, base } = await setup(1000);
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
    expect(await guard.audit.verify()).toMatchObject({ ok: true });
    await guard.close();
  });
});
