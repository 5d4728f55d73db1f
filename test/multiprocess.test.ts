/**
 * Several OS processes sharing one store (SQLite file, Redis, Postgres): one cap, one set of
 * checkpoints and one revocation list for the whole fleet.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createGuard } from '@spendguard/core';
import { afterAll, describe, expect, it } from 'vitest';
import { capRace, duplicateRace, race, racePolicies } from './support/race.ts';
import type { RevokeWorkerConfig } from './support/revoke-worker.ts';
import { sharedStores } from './support/shared-stores.ts';

const REVOKE_WORKER = fileURLToPath(new URL('./support/revoke-worker.ts', import.meta.url));
const backends = sharedStores();
afterAll(async () => {
  for (const backend of backends) await backend.cleanup();
});

/**
 * The cap races: $2.35 a call. SQLite (issue: 4 × 50 for a cap admitting 37, $86.95 < $88 < $89.30);
 * Redis and Postgres (4 × 100 for 137, $321.95 < $322 < $324.30).
 */
const CAP_RACES = {
  sqlite: { calls: 50, capUsd: 88, admitted: 37, spentUsd: 86.95 },
  redis: { calls: 100, capUsd: 322, admitted: 137, spentUsd: 321.95 },
  postgres: { calls: 100, capUsd: 322, admitted: 137, spentUsd: 321.95 },
} as const;

describe.each(backends)('four OS processes sharing one $name store', (backend) => {
  async function setup(label: string, capUsd: number) {
    const { spec, store } = await backend.open(label);
    const guard = createGuard({ policies: racePolicies(capUsd), store });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const base = { store: spec, policies: racePolicies(capUsd), token: root.token } as const;
    return { guard, root, base };
  }

  const cap = CAP_RACES[backend.name];
  it(`admit exactly ${cap.admitted} of ${4 * cap.calls} calls racing for one cap, 0 overspend to the cent`, async () => {
    const { guard, root, base } = await setup('cap', cap.capUsd);
    const reports = await race(capRace(base, cap.calls));
    const executed = reports.reduce((n, r) => n + (r.decisions.executed ?? 0), 0);
    const capped = reports.reduce((n, r) => n + (r.decisions.cap_exceeded ?? 0), 0);
    expect(executed).toBe(cap.admitted);
    expect(capped).toBe(4 * cap.calls - cap.admitted);
    expect(reports.reduce((n, r) => n + r.vendorCalls, 0)).toBe(cap.admitted);
    expect(await guard.store.getCounter(`${root.id}:life`)).toBe(Math.round(cap.spentUsd * 1_000_000));
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(cap.spentUsd);
    // More than one process won some of the cap: this was a real race, not one process taking all.
    expect(reports.filter((r) => (r.decisions.executed ?? 0) > 0).length).toBeGreaterThan(1);
    expect(await guard.audit.verify()).toEqual({ ok: true, rows: 4 * cap.calls });
    await guard.close();
  });

  it('run the vendor once for 4 × 25 identical calls, and every call gets its result', async () => {
    const { guard, base } = await setup('dup', 1000);
    const reports = await race(duplicateRace(base));
    expect(reports.reduce((n, r) => n + r.vendorCalls, 0)).toBe(1);
    const ids = reports.flatMap((r) => r.resultIds);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(1);
    expect(await guard.audit.verify()).toEqual({ ok: true, rows: 100 });
    await guard.close();
  });

  it('deny every worker’s next call key_revoked once a fifth process revokes the root key', async () => {
    const { guard, root, base } = await setup('revoke', 1000);
    const config = (worker: number): RevokeWorkerConfig => ({ ...base, worker });
    const workers = [0, 1, 2, 3].map((worker) => new Driven(config(worker)));
    try {
      for (const w of workers) expect(await w.next()).toBe('ready');
      const first = await Promise.all(workers.map((w, i) => w.call(`first-${i}`)));
      expect(first.map((d) => d.code)).toEqual(['executed', 'executed', 'executed', 'executed']);

      const revoker = new Driven({ ...config(4), revoke: root.id });
      expect(JSON.parse(await revoker.next())).toEqual({ revoked: true });
      expect(await once(revoker.child, 'exit').then(([code]) => code)).toBe(0);

      // Each worker has its run key, token and policy cached: only the atomic begin sees the revocation.
      const next = await Promise.all(workers.map((w, i) => w.call(`second-${i}`)));
      for (const d of next)
        expect(d).toMatchObject({ decision: 'denied', code: 'key_revoked', vendorCalls: 1 });
    } finally {
      expect(await Promise.all(workers.map((w) => w.exit()))).toEqual([0, 0, 0, 0]);
    }
    const rows = await guard.audit.list();
    expect(rows.filter((r) => r.code === 'key_revoked')).toHaveLength(4);
    expect(await guard.audit.verify()).toEqual({ ok: true, rows: 8 });
    await guard.close();
  });
});

/** A revoke-worker process driven one line at a time. */
class Driven {
  readonly child: ChildProcess;
  readonly #lines: Interface;
  readonly #pending: string[] = [];
  readonly #waiters: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];

  constructor(config: RevokeWorkerConfig) {
    this.child = spawn(
      process.execPath,
      ['--conditions=@spendguard/source', REVOKE_WORKER, JSON.stringify(config)],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    this.#lines = createInterface({ input: this.child.stdout as NodeJS.ReadableStream });
    this.#lines.on('line', (line) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(line);
      else this.#pending.push(line);
    });
    this.child.once('exit', (code) => {
      for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error(`worker exited with ${code}`));
    });
  }

  next(): Promise<string> {
    const line = this.#pending.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  async call(order: string): Promise<{ decision: string; code: string; vendorCalls: number }> {
    this.child.stdin?.write(`call ${order}\n`);
    return JSON.parse(await this.next());
  }

  async exit(): Promise<number | null> {
    const exited = once(this.child, 'exit');
    this.child.stdin?.end('exit\n');
    const [code] = await exited;
    return code as number | null;
  }
}
