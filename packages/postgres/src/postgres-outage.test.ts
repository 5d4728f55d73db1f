import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createGuard,
  type ExecuteRequest,
  type PolicyDocument,
  type StoreUnavailableError,
} from '@spendguard/core';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { testSchemas } from './test-support.ts';

const db = testSchemas();
afterAll(() => db.dropAll());

const POLICIES: PolicyDocument = {
  policies: { billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perKey: 1000 } } },
};

function charge(token: string, cents: number, order: string): ExecuteRequest {
  return {
    key: token,
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: cents, currency: 'usd', order },
    cost: { amount: cents / 100, currency: 'usd' },
  };
}

/**
 * A TCP proxy to the real Postgres that a test can cut: `refuse` closes every connection and
 * stops listening (connection refused); `blackhole` closes them and then accepts new ones but
 * never answers (a dead network path).
 */
class CuttableProxy {
  readonly #upstream: URL;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #mode: 'up' | 'blackhole' = 'up';
  port = 0;

  constructor(url: string) {
    this.#upstream = new URL(url);
  }

  /** The upstream URL, through this proxy. */
  get url(): string {
    const url = new URL(this.#upstream);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  async listen(): Promise<void> {
    const server = createServer((client) => this.#accept(client));
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  #track(socket: Socket): Socket {
    this.#sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => this.#sockets.delete(socket));
    return socket;
  }

  #accept(client: Socket): void {
    this.#track(client);
    if (this.#mode === 'blackhole') return; // accepted, never answered
    const upstream = this.#track(
      netConnect(Number(this.#upstream.port || 5432), this.#upstream.hostname || '127.0.0.1'),
    );
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  async cut(how: 'refuse' | 'blackhole'): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    if (how === 'refuse') {
      const server = this.#server;
      this.#server = undefined;
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    } else {
      this.#mode = 'blackhole';
    }
  }

  async restore(): Promise<void> {
    this.#mode = 'up';
    for (const socket of this.#sockets) socket.destroy(); // drop half-open blackholed connections
    if (!this.#server) await this.listen();
  }

  async close(): Promise<void> {
    await this.cut('refuse');
  }
}

function vendor() {
  const v = {
    calls: 0,
    fn: async () => {
      v.calls++;
      return { id: `ch_${v.calls}` };
    },
  };
  return v;
}

describe('postgres outage', () => {
  it('denies store_unavailable promptly while Postgres is unreachable, then resumes without a restart', async () => {
    const proxy = new CuttableProxy(db.url);
    await proxy.listen();
    const poolErrors: StoreUnavailableError[] = [];
    const store = await db.store({
      url: proxy.url,
      connectionTimeoutMs: 800,
      statementTimeoutMs: 1000,
      queryTimeoutMs: 1500,
      onError: (e) => poolErrors.push(e),
    });
    const guard = createGuard({ policies: POLICIES, store });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const v = vendor();
    const before = await guard.execute(charge(root.token, 500, 'before'), v.fn);
    expect(before.decision).toBe('executed');

    for (const how of ['refuse', 'blackhole'] as const) {
      const callsBefore = v.calls;
      await proxy.cut(how);
      // Right after a refuse cut the pool may still hold the dead idle connection (the step retries
      // once on a fresh one); after a pause its 'error' has reached the pool (our listener, no crash).
      if (how === 'blackhole') await sleep(50);
      const started = performance.now();
      const down = await guard.execute(charge(root.token, 700, `during-${how}`), v.fn);
      const replayDown = await guard.execute(charge(root.token, 500, 'before'), v.fn);
      const elapsed = performance.now() - started;
      expect(down).toMatchObject({ decision: 'denied', code: 'store_unavailable' });
      expect(down.message).toContain('postgres');
      expect(replayDown).toMatchObject({ decision: 'denied', code: 'store_unavailable' });
      // Refused connections fail at once; a blackhole fails after the 800 ms connection timeout.
      expect(elapsed).toBeLessThan(how === 'refuse' ? 500 : 2 * 800 + 700);
      expect(v.calls).toBe(callsBefore); // fail closed: the vendor was not called
      await proxy.restore();

      const after = await guard.execute(charge(root.token, 700, `during-${how}`), v.fn);
      expect(after.decision).toBe('executed');
      const replay = await guard.execute(charge(root.token, 500, 'before'), v.fn);
      expect(replay).toMatchObject({ decision: 'replayed', result: { id: 'ch_1' } });
    }
    expect(v.calls).toBe(3);
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(19);
    expect(await guard.audit.verify()).toMatchObject({ ok: true });
    // The cut idle connections surfaced as errors on the pool, and crashed nothing.
    expect(poolErrors.length).toBeGreaterThan(0);
    expect(poolErrors.every((e) => e.code === 'store_unavailable')).toBe(true);
    await guard.close();
    await proxy.close();
  });

  it('a cut during the vendor call: executed_not_recorded, recorded once the store is back, so a retry replays it', async () => {
    const proxy = new CuttableProxy(db.url);
    await proxy.listen();
    const store = await db.store({ url: proxy.url, connectionTimeoutMs: 800, statementTimeoutMs: 1000 });
    const guard = createGuard({ policies: POLICIES, store, leaseMs: 300 });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const keys: string[] = [];
    const first = await guard.execute(charge(root.token, 900, 'cut'), async (ctx) => {
      keys.push(ctx.idempotencyKey);
      await proxy.cut('refuse'); // the network goes away while the vendor works
      return { id: 'ch_cut' };
    });
    expect(first).toMatchObject({ decision: 'executed', code: 'executed_not_recorded' });
    await proxy.restore();
    // The reservation made before the cut is still held.
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(9);
    // The guard records the settlement it kept before its next call: the retry is a replay.
    const retry = await guard.execute(charge(root.token, 900, 'cut'), async (ctx) => {
      keys.push(ctx.idempotencyKey);
      return { id: 'ch_other' };
    });
    expect(retry).toMatchObject({ decision: 'replayed', result: { id: 'ch_cut' } });
    expect(keys).toHaveLength(1); // the vendor was called once
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(9);
    await guard.close();
    await proxy.close();
  });

  it('survives pg_terminate_backend of its connections, idle or waiting on a lock', async () => {
    const app = `spendguard-test-${randomBytes(4).toString('hex')}`;
    const poolErrors: StoreUnavailableError[] = [];
    const store = await db.store({
      applicationName: app,
      statementTimeoutMs: 1000,
      onError: (e) => poolErrors.push(e),
    });
    const guard = createGuard({ policies: POLICIES, store });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const v = vendor();
    const terminate = () =>
      db.sql<{ n: number }>(
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [app],
      );
    // Several idle pooled connections.
    await Promise.all(
      Array.from({ length: 4 }, (_, i) => guard.execute(charge(root.token, 100, `warm-${i}`), v.fn)),
    );
    expect((await terminate())[0]?.n).toBeGreaterThan(0);
    await sleep(100);
    expect(poolErrors.length).toBeGreaterThan(0);
    expect((await guard.execute(charge(root.token, 100, 'after-idle-kill'), v.fn)).decision).toBe('executed');

    // Hold the key's counter row from another session, so begin waits on it; then kill the waiter.
    const blocker = new pg.Client({ connectionString: db.url });
    blocker.on('error', () => {});
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM "${store.schema}".counters WHERE id = $1 FOR UPDATE`, [
      `${root.id}:life`,
    ]);
    const waiting = guard.execute(charge(root.token, 100, 'killed-while-waiting'), v.fn);
    for (let i = 0; i < 50; i++) {
      const [row] = await db.sql<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        [app],
      );
      if ((row?.n ?? 0) > 0) break;
      await sleep(20);
    }
    await terminate();
    expect(await waiting).toMatchObject({ decision: 'denied', code: 'store_unavailable' });
    await blocker.query('ROLLBACK');
    await blocker.end();

    expect((await guard.execute(charge(root.token, 100, 'after-active-kill'), v.fn)).decision).toBe(
      'executed',
    );
    expect(v.calls).toBe(6);
    expect(await guard.audit.verify()).toMatchObject({ ok: true });
    await guard.close();
  });

  it('gives up a lock wait after statementTimeoutMs instead of hanging', async () => {
    const store = await db.store({ statementTimeoutMs: 300 });
    const guard = createGuard({ policies: POLICIES, store });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const blocker = new pg.Client({ connectionString: db.url });
    blocker.on('error', () => {});
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM "${store.schema}".audit_head FOR UPDATE`);
    const started = performance.now();
    // finish needs the audit head: the vendor runs, then recording it times out.
    const stuck = await guard.execute(charge(root.token, 100, 'o1'), async () => ({ id: 'ch_1' }));
    expect(stuck).toMatchObject({ decision: 'executed', code: 'executed_not_recorded' });
    expect(performance.now() - started).toBeLessThan(1500);
    await blocker.query('ROLLBACK');
    await blocker.end();
    expect((await guard.execute(charge(root.token, 200, 'o2'), async () => ({ id: 'ch_2' }))).decision).toBe(
      'executed',
    );
    await guard.close();
  });
});
