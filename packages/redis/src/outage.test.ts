import { once } from 'node:events';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGuard, type ExecuteRequest, type PolicyDocument, verifyAuditRows } from '@spendguard/core';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStore } from './redis-store.ts';
import { TEST_REDIS_URL, testPrefix } from './test-helpers.ts';

/**
 * A TCP proxy in front of the shared Redis, so a test can take "Redis" away without touching
 * the server other tests use: `cut` refuses and drops connections, `stall` holds bytes.
 */
class TcpProxy {
  readonly #target = new URL(TEST_REDIS_URL);
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #stalled = false;
  port = 0;

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(Number(this.#target.port || 6379), this.#target.hostname);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => {
          this.#sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk) => {
        if (!this.#stalled) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => client.write(chunk));
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** Redis becomes unreachable: open connections drop and new ones are refused. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Connections stay open but nothing reaches Redis (a hung network). */
  stall(stalled: boolean): void {
    this.#stalled = stalled;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
}

const prefix = testPrefix('outage');
const proxy = new TcpProxy();

afterAll(async () => {
  await proxy.cut();
  const sweeper = new RedisStore({ url: TEST_REDIS_URL, prefix });
  await sweeper.clear();
  await sweeper.close();
});

const POLICIES: PolicyDocument = {
  policies: { billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perKey: 1000 } } },
};

function charge(key: string, order: string): ExecuteRequest {
  return {
    key,
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: 100, currency: 'usd', order },
    cost: { amount: 1, currency: 'usd' },
  };
}

describe('Redis outage', () => {
  it('denies store_unavailable at once while Redis is unreachable, never crashes, and resumes when it is back', async () => {
    await proxy.start();
    const store = new RedisStore({ url: proxy.url, prefix, commandTimeoutMs: 300, connectTimeoutMs: 1000 });
    const guard = createGuard({ policies: POLICIES, store });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    let vendorCalls = 0;
    const vendor = async () => {
      vendorCalls++;
      return { id: `ch_${vendorCalls}` };
    };
    let order = 0;
    const pay = () => guard.execute(charge(root.token, `ord_${order++}`), vendor);
    expect((await pay()).decision).toBe('executed');

    // Cut: every call is denied at once (no offline queue, no waiting for a reconnect).
    await proxy.cut();
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      const decisions = await Promise.all(Array.from({ length: 10 }, pay));
      const elapsed = performance.now() - started;
      for (const d of decisions) {
        expect(d).toMatchObject({ decision: 'denied', code: 'store_unavailable' });
        expect(d.message).toMatch(/^the spendguard store \(redis\) is unavailable/);
      }
      expect(elapsed).toBeLessThan(200);
      await sleep(300); // reconnect attempts fail meanwhile, emitting 'error' events
    }
    expect(vendorCalls).toBe(1);
    expect(store.lastError).toMatch(/ECONNREFUSED/);

    // Back: calls resume without a restart, within the reconnect backoff (at most 1 s).
    await proxy.start();
    const restored = performance.now();
    let resumed = await pay();
    while (resumed.decision !== 'executed' && performance.now() - restored < 5000) {
      expect(resumed.code).toBe('store_unavailable');
      await sleep(25);
      resumed = await pay();
    }
    expect(resumed.decision).toBe('executed');
    expect(performance.now() - restored).toBeLessThan(2000);
    for (let i = 0; i < 5; i++) expect((await pay()).decision).toBe('executed');

    // Stall: the connection is up but Redis never answers; the command timeout denies the call.
    proxy.stall(true);
    const stalledAt = performance.now();
    expect(await pay()).toMatchObject({ decision: 'denied', code: 'store_unavailable' });
    const stalledFor = performance.now() - stalledAt;
    expect(stalledFor).toBeGreaterThanOrEqual(250);
    expect(stalledFor).toBeLessThan(1000);
    // Dropping the stalled connections discards the held command: it never reaches Redis.
    await proxy.cut();
    proxy.stall(false);
    await proxy.start();
    await sleep(1200);
    expect((await pay()).decision).toBe('executed');
    expect(vendorCalls).toBe(8);

    const rows = await store.readAudit();
    expect(verifyAuditRows(rows)).toEqual({ ok: true, rows: rows.length });
    expect(rows.filter((r) => r.decision === 'executed')).toHaveLength(8);
    await guard.close();
  });
});
