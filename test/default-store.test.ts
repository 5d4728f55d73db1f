import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const core = fileURLToPath(new URL('../packages/core/src/index.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'spendguard-default-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run a script in a fresh process whose working directory is `dir`, as a user's app would. */
function runInApp(script: string): string {
  const file = join(dir, `script-${Math.random().toString(36).slice(2)}.mts`);
  writeFileSync(file, `import { createGuard } from ${JSON.stringify(core)};\n${script}`);
  return execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8' }).trim();
}

it('keeps state in SQLite under .spendguard/ when no store is given, across restarts', () => {
  writeFileSync(
    join(dir, 'spendguard.yaml'),
    'policies:\n  billing:\n    stripe:\n      allow: [POST /v1/refunds]\n    caps: { perKey: 10 }\n',
  );
  const first = runInApp(`
    const guard = createGuard({ policies: 'spendguard.yaml' });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const op = { key: root.token, vendor: 'stripe', method: 'POST', path: '/v1/refunds', params: { charge: 'ch_1' }, cost: { amount: 6, currency: 'usd' } };
    const d = await guard.execute(op, async () => ({ id: 're_1' }));
    await guard.close();
    console.log(JSON.stringify({ token: root.token, decision: d.decision, kind: guard.store.kind }));
  `);
  const { token, decision, kind } = JSON.parse(first) as { token: string; decision: string; kind: string };
  expect({ decision, kind }).toEqual({ decision: 'executed', kind: 'sqlite' });
  expect(existsSync(join(dir, '.spendguard', 'spendguard.db'))).toBe(true);

  // A new process: the key, the checkpoint and the spend are all still there.
  const second = runInApp(`
    const guard = createGuard({ policies: 'spendguard.yaml' });
    const op = { key: ${JSON.stringify(token)}, vendor: 'stripe', method: 'POST', path: '/v1/refunds', cost: { amount: 6, currency: 'usd' } };
    let calls = 0;
    const replay = await guard.execute({ ...op, params: { charge: 'ch_1' } }, async () => { calls++; return {}; });
    const capped = await guard.execute({ ...op, params: { charge: 'ch_2' } }, async () => { calls++; return {}; });
    console.log(JSON.stringify({ replay: replay.decision, result: replay.result, capped: capped.code, calls, verify: await guard.audit.verify() }));
    await guard.close();
  `);
  expect(JSON.parse(second)).toEqual({
    replay: 'replayed',
    result: { id: 're_1' },
    capped: 'cap_exceeded',
    calls: 0,
    verify: { ok: true, rows: 3 },
  });
});
