import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGuard, type Guard, SqliteStore, type Store } from '@spendguard/core';
import { PostgresStore } from '@spendguard/postgres';
import { RedisStore } from '@spendguard/redis';
import { createFakeStripe, type FakeServer } from '@spendguard/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from './serve.ts';

// serve(): a policy file and a store string are all `spendguard serve` needs.

const SECRET = 'sk_test_serve_REAL_stripe_secret_0123456789';
const ENV = 'SPENDGUARD_PROXY_SERVE_TEST_STRIPE';
const REDIS_URL = process.env.SPENDGUARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.SPENDGUARD_TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/test';
const POLICY = `policies:
  billing-agent:
    stripe:
      allow:
        - POST /v1/charges: { amount: { max: 5000 } }
    caps: { perDay: 1000 }
credentials:
  stripe: { env: ${ENV} }
`;

const fake = createFakeStripe({ secretKey: SECRET });
let server: FakeServer;
let dir: string;
let config: string;

beforeAll(async () => {
  process.env[ENV] = SECRET;
  server = await fake.listen();
  dir = mkdtempSync(join(tmpdir(), 'spendguard-serve-'));
  config = join(dir, 'spendguard.yaml');
  writeFileSync(config, POLICY);
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  delete process.env[ENV];
});

/** A root key issued through a guard of its own on the same store, as an operator would. */
async function issueKey(store: Store): Promise<string> {
  const guard: Guard = createGuard({ policies: config, store });
  const { token } = await guard.keys.issueRoot({ policy: 'billing-agent' });
  await guard.close();
  return token;
}

function charge(url: string, token: string, order: string): Promise<Response> {
  return fetch(`${url}/stripe/v1/charges`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: `amount=1200&currency=usd&source=tok_visa&metadata[order_id]=${order}`,
  });
}

describe('serve', () => {
  it('serves from a policy file over SQLite, and its state survives a restart', async () => {
    const file = join(dir, 'state.db');
    const token = await issueKey(new SqliteStore({ file }));
    const first = await serve({
      config,
      store: `sqlite:${file}`,
      upstreams: { stripe: server.url },
      logger: () => {},
    });
    const executed = await charge(first.url, token, 'ord_1');
    expect(executed.headers.get('spendguard-decision')).toBe('executed');
    await first.close();

    const second = await serve({
      config,
      store: `sqlite:${file}`,
      upstreams: { stripe: server.url },
      logger: () => {},
    });
    try {
      const replayed = await charge(second.url, token, 'ord_1');
      expect(replayed.headers.get('spendguard-decision')).toBe('replayed');
      expect(fake.ledger.count('charge')).toBe(1);
    } finally {
      await second.close();
    }
  });

  it('serves over Redis (redis://…?prefix=)', async () => {
    const prefix = `sgtest:proxy:${process.pid}:${randomBytes(4).toString('hex')}:`;
    const store = new RedisStore({ url: REDIS_URL, prefix });
    const token = await issueKey(store);
    const served = await serve({
      config,
      store: `${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`,
      upstreams: { stripe: server.url },
      logger: () => {},
    });
    try {
      expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
      expect((await charge(served.url, token, 'ord_redis')).headers.get('spendguard-decision')).toBe(
        'executed',
      );
    } finally {
      await served.close();
      const cleanup = new RedisStore({ url: REDIS_URL, prefix });
      await cleanup.clear();
      await cleanup.close();
    }
  });

  it('serves over Postgres (postgres://…?schema=), migrating the schema on start', async () => {
    const schema = `sg_proxy_${process.pid}_${randomBytes(4).toString('hex')}`;
    const served = await serve({
      config,
      store: `${POSTGRES_URL}?schema=${schema}`,
      upstreams: { stripe: server.url },
      logger: () => {},
    });
    try {
      const token = await issueKey(new PostgresStore({ url: POSTGRES_URL, schema }));
      expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
      expect((await charge(served.url, token, 'ord_pg')).headers.get('spendguard-decision')).toBe('executed');
    } finally {
      await served.close();
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  });

  it('refuses a store string it does not know, without repeating it (it may hold a password)', async () => {
    const error = await serve({ config, store: 'mysql://admin:hunter2@db/x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('needs nothing but spendguard.yaml in the working directory: SQLite under .spendguard/', async () => {
    const app = mkdtempSync(join(tmpdir(), 'spendguard-serve-app-'));
    writeFileSync(join(app, 'spendguard.yaml'), POLICY);
    const entry = fileURLToPath(new URL('./index.ts', import.meta.url));
    const script = `import { serve } from ${JSON.stringify(entry)};
const served = await serve({ port: 0, logger: () => {} });
console.log(served.url);`;
    const child: ChildProcess = spawn(
      process.execPath,
      ['--conditions=@spendguard/source', '--input-type=module', '-e', script],
      { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('serve() did not start within 15 s')), 15_000);
        let err = '';
        child.stderr?.on('data', (chunk: Buffer) => {
          err += chunk;
        });
        child.stdout?.once('data', (chunk: Buffer) => {
          clearTimeout(timer);
          resolve(chunk.toString().trim());
        });
        child.once('exit', (code) => reject(new Error(`serve() exited ${code}: ${err}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      const keyless = await fetch(`${url}/stripe/v1/charges`, { method: 'POST', body: 'amount=1' });
      expect(keyless.status).toBe(401);
      expect(existsSync(join(app, '.spendguard', 'spendguard.db'))).toBe(true);
    } finally {
      child.kill();
      rmSync(app, { recursive: true, force: true });
    }
  });
});
