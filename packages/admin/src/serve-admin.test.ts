import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type ServedAdmin, serveAdmin } from './serve-admin.ts';
import { ADMIN_TOKEN, AdminWorld, TOKEN_ENV } from './test-world.ts';

let world: AdminWorld;
let served: ServedAdmin;
beforeEach(async () => {
  world = new AdminWorld();
  served = await serveAdmin({ guard: world.guard, token: { env: TOKEN_ENV } });
});
afterEach(async () => {
  await served.close();
  await world.close();
});

it('listens on 127.0.0.1 and streams an export of more rows than one page, in seq order', async () => {
  expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const root = await world.guard.keys.issueRoot({ policy: 'billing' });
  for (let i = 0; i < 1200; i++) await world.pay(root.token, 1, `cus_${i}`);
  const response = await fetch(`${served.url}/v1/audit/export`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('application/x-ndjson');
  expect(response.headers.get('spendguard-audit-head')).toBe('1200');
  const seqs = (await response.text())
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { seq: number }).seq);
  expect(seqs).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
});

it('answers a request without the token with a bare 401 over the wire', async () => {
  const response = await fetch(`${served.url}/v1/keys`, { method: 'POST', body: '{"policy":"billing"}' });
  expect(response.status).toBe(401);
  expect(await response.json()).toEqual({ error: { code: 'unauthorized', message: 'unauthorized' } });
  expect(await world.guard.keys.list()).toEqual([]);
});

it('reads the admin token from a file, by reference, and refuses any other over the wire', async () => {
  const file = join(world.dir, 'admin-token');
  const fromFile = 'admin-token-from-a-file-0123456789abcdef';
  writeFileSync(file, `${fromFile}\n`, { mode: 0o600 });
  const own = await serveAdmin({ guard: world.guard, token: { file } });
  try {
    const as = (token: string) =>
      fetch(`${own.url}/v1/keys`, { headers: { authorization: `Bearer ${token}` } });
    expect((await as(fromFile)).status).toBe(200);
    const wrong = await as(ADMIN_TOKEN);
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toBe('{"error":{"code":"unauthorized","message":"unauthorized"}}');
    expect(await (await fetch(`${own.url}/metrics`)).text()).toContain(
      'spendguard_admin_unauthorized_total 1',
    );
  } finally {
    await own.close();
    rmSync(file);
  }
});
