import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createGuard, type PolicyDocument } from '@spendguard/core';
import { createFakeStripe, type FakeServer } from '@spendguard/testkit';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrashWorkerConfig } from './support/crash-worker.ts';
import { sharedStores } from './support/shared-stores.ts';

const WORKER = fileURLToPath(new URL('./support/crash-worker.ts', import.meta.url));
const SECRET = 'sk_test_crash_secret';
const ENV = 'SPENDGUARD_CRASH_STRIPE_KEY';
const LEASE_MS = 1500;
const backends = sharedStores();
const fake = createFakeStripe({ secretKey: SECRET });
let server: FakeServer;

const policies: PolicyDocument = {
  policies: {
    billing: { stripe: { allow: ['POST /v1/charges', 'POST /v1/customers'] }, caps: { perKey: 1000 } },
  },
  credentials: { stripe: { env: ENV } },
};

beforeAll(async () => {
  server = await fake.listen();
});
afterAll(async () => {
  await server.close();
  for (const backend of backends) await backend.cleanup();
});

function start(
  config: CrashWorkerConfig,
  customer: string,
): { child: ChildProcess; lines: string[]; sent: Promise<void> } {
  const child = spawn(process.execPath, ['--conditions=@spendguard/source', WORKER, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, [ENV]: SECRET, CUSTOMER: customer },
  });
  const lines: string[] = [];
  const sent = new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      lines.push(...chunk.split('\n').filter(Boolean));
      if (lines.includes('sent')) resolve();
    });
    child.once('exit', () => reject(new Error('the worker exited before sending')));
  });
  sent.catch(() => {});
  return { child, lines, sent };
}

describe('a worker killed with SIGKILL between the vendor call and complete', () => {
  it.each(backends)(
    '$name: the retry after the lease re-sends with the same key, and there is one charge',
    async ({ open }) => {
      fake.reset();
      const { spec, store } = await open('crash');
      const guard = createGuard({ policies, store });
      const root = await guard.keys.issueRoot({ policy: 'billing' });
      const plain = new Stripe(SECRET, { host: '127.0.0.1', port: server.port, protocol: 'http' });
      const customer = (await plain.customers.create({ name: 'Crash' })).id;
      const config: CrashWorkerConfig = {
        store: spec,
        policies,
        token: root.token,
        stripePort: server.port,
        leaseMs: LEASE_MS,
        mode: 'crash',
      };

      // Stripe acts, then holds its answer: the worker is killed while waiting for it.
      fake.faults.inject({ kind: 'timeout_after_act', ms: 30_000 });
      const crashing = start(config, customer);
      await crashing.sent;
      for (let i = 0; i < 100 && fake.ledger.count('charge') === 0; i++) await sleep(20);
      expect(fake.ledger.count('charge')).toBe(1);
      crashing.child.kill('SIGKILL');
      await once(crashing.child, 'exit');
      const [row] = await guard.audit.list();
      expect(row).toBeUndefined(); // it never completed: no decision was recorded

      await sleep(LEASE_MS + 200);
      const retry = start({ ...config, mode: 'retry' }, customer);
      const [code] = await once(retry.child, 'exit');
      expect(code).toBe(0);
      const { id } = JSON.parse(retry.lines.at(-1) as string) as { id: string };
      expect(fake.ledger.count('charge')).toBe(1);
      expect(id).toBe(fake.ledger.list('charge')[0]?.id);
      const keys = fake.ledger.requests.filter((r) => r.path === '/v1/charges').map((r) => r.idempotencyKey);
      expect(keys).toHaveLength(2);
      expect(new Set(keys).size).toBe(1);
      expect((await guard.audit.list()).map((r) => r.decision)).toEqual(['executed']);
      expect((await guard.spend(root.id)).lifetimeUsd).toBe(42);
      await guard.close();
    },
  );
});
