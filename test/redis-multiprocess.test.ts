import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createGuard, type PolicyDocument } from '@spendguard/core';
import { afterAll, describe, expect, it } from 'vitest';
import { race } from './support/race.ts';
import type { WorkerConfig } from './support/race-worker.ts';
import type { RevokeWorkerConfig } from './support/redis-revoke-worker.ts';
import { RedisStore, TEST_REDIS_URL, testPrefix } from './support/redis-store-factory.ts';

const FACTORY = fileURLToPath(new URL('./support/redis-store-factory.ts', import.meta.url));
const REVOKE_WORKER = fileURLToPath(new URL('./support/redis-revoke-worker.ts', import.meta.url));
const runPrefix = testPrefix('multiprocess');
let n = 0;

afterAll(async () => {
  const sweeper = new RedisStore({ url: TEST_REDIS_URL, prefix: runPrefix });
  await sweeper.clear();
  await sweeper.close();
});

function policies(capUsd: number): PolicyDocument {
  return {
    policies: { billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perKey: capUsd } } },
  } as PolicyDocument;
}

async function setup(capUsd: number) {
  const args = { url: TEST_REDIS_URL, prefix: `${runPrefix}${n++}:` };
  const guard = createGuard({ policies: policies(capUsd), store: new RedisStore(args) });
  const root = await guard.keys.issueRoot({ policy: 'billing' });
  const base = {
    store: { kind: 'module', path: FACTORY, args },
    policies: policies(capUsd),
    token: root.token,
  } as const;
  return { guard, root, base, args };
}

/** A worker process driven one line at a time. */
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

describe('four OS processes sharing one Redis', () => {
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
    const executed = reports.reduce((sum, r) => sum + (r.decisions.executed ?? 0), 0);
    const capped = reports.reduce((sum, r) => sum + (r.decisions.cap_exceeded ?? 0), 0);
    expect(executed).toBe(137);
    expect(capped).toBe(263);
    expect(reports.reduce((sum, r) => sum + r.vendorCalls, 0)).toBe(137);
    expect(await guard.store.getCounter(`${root.id}:life`)).toBe(321_950_000);
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
    expect(reports.reduce((sum, r) => sum + r.vendorCalls, 0)).toBe(1);
    const ids = reports.flatMap((r) => r.resultIds);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(1);
    expect(await guard.audit.verify()).toEqual({ ok: true, rows: 100 });
    await guard.close();
  });

  it('deny every worker’s next call key_revoked once a fifth process revokes the root key', async () => {
    const { guard, root, args } = await setup(1000);
    const config = (worker: number): RevokeWorkerConfig => ({
      store: args,
      policies: policies(1000),
      token: root.token,
      worker,
    });
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
      expect((await guard.keys.get(root.id))?.revokedAt).not.toBeNull();
    } finally {
      expect(await Promise.all(workers.map((w) => w.exit()))).toEqual([0, 0, 0, 0]);
    }
    const rows = await guard.audit.list();
    expect(rows.filter((r) => r.code === 'key_revoked')).toHaveLength(4);
    expect(await guard.audit.verify()).toEqual({ ok: true, rows: 8 });
    await guard.close();
  });
});
