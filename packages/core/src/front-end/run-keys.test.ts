import { beforeEach, describe, expect, it } from 'vitest';
import { SpendguardError, StoreUnavailableError } from '../errors.ts';
import { createGuard, type Guard } from '../guard.ts';
import { MemoryStore } from '../stores/memory-store.ts';
import type { DeriveOptions } from '../vault-keys.ts';
import { RunKeys } from './run-keys.ts';

let guard: Guard;
let root: { id: string; token: string };

beforeEach(async () => {
  guard = createGuard({
    policies: { policies: { agent: { stripe: { allow: ['POST /v1/charges'] }, caps: { perKey: 500 } } } },
    store: new MemoryStore(),
  });
  root = await guard.keys.issueRoot({ policy: 'agent' });
});

async function keyOf(token: string) {
  const auth = await guard.keys.authenticate(token);
  if ('code' in auth) throw new Error(auth.message);
  return auth;
}

/** A guard whose `keys.derive` answers from `derive`, counting its calls. */
function stubGuard(derive: (runId: string) => Promise<{ token: string }>) {
  const calls: string[] = [];
  const stub = {
    keys: {
      derive: (_parent: string, options: DeriveOptions) => {
        calls.push(options.runId as string);
        return derive(options.runId as string);
      },
    },
  } as unknown as Guard;
  return { stub, calls };
}

describe('RunKeys', () => {
  it('derives one run key per run id from the root key, the same key for the same run id', async () => {
    const runKeys = new RunKeys({ guard, key: root.token });
    const a = await keyOf(await runKeys.token('run-a'));
    const b = await keyOf(await runKeys.token('run-b'));
    expect(a.key.id).not.toBe(b.key.id);
    expect(a.chain.map((k) => k.id)).toEqual([root.id, a.key.id]);
    // Another RunKeys (another process) finds the same key for the run.
    const elsewhere = await keyOf(await new RunKeys({ guard, key: root.token }).token('run-a'));
    expect(elsewhere.key.id).toBe(a.key.id);
  });

  it('derives each run once and keeps its token', async () => {
    const { stub, calls } = stubGuard(async (runId) => ({ token: `token-${runId}` }));
    const runKeys = new RunKeys({ guard: stub, key: root.token });
    const tokens = await Promise.all([runKeys.token('r1'), runKeys.token('r1'), runKeys.token('r2')]);
    expect(tokens).toEqual(['token-r1', 'token-r1', 'token-r2']);
    expect(await runKeys.token('r1')).toBe('token-r1');
    expect(calls).toEqual(['r1', 'r2']);
  });

  it('narrows each run key as asked', async () => {
    const runKeys = new RunKeys({ guard, key: root.token, derive: { caps: { perRun: 100 } } });
    const run = await keyOf(await runKeys.token('capped'));
    expect(run.policy.caps.perRun).toBe(100);
  });

  it('names the default run: the given run id, else the prefix and a random id', () => {
    expect(new RunKeys({ guard, key: root.token, runId: 'session-1' }).defaultRunId).toBe('session-1');
    const aiSdk = new RunKeys({ guard, key: root.token, runIdPrefix: 'ai-sdk-' }).defaultRunId;
    expect(aiSdk).toMatch(/^ai-sdk-[0-9a-f-]{36}$/);
    expect(new RunKeys({ guard, key: root.token }).defaultRunId).toMatch(/^run-[0-9a-f-]{36}$/);
    expect(new RunKeys({ guard, key: root.token }).defaultRunId).not.toBe(
      new RunKeys({ guard, key: root.token }).defaultRunId,
    );
  });

  it('rejects with key_invalid when the root key cannot act', async () => {
    await guard.keys.revoke(root.id);
    const failure = await new RunKeys({ guard, key: root.token }).token('r1').catch((e: unknown) => e);
    expect(SpendguardError.isInstance(failure) && failure.code).toBe('key_invalid');
  });

  it('keeps no failure: the next call derives again', async () => {
    let storeDown = true;
    const { stub, calls } = stubGuard(async (runId) => {
      if (storeDown) throw new StoreUnavailableError('connection refused');
      return { token: `token-${runId}` };
    });
    const runKeys = new RunKeys({ guard: stub, key: root.token });
    await expect(runKeys.token('r1')).rejects.toThrow('connection refused');
    storeDown = false;
    expect(await runKeys.token('r1')).toBe('token-r1');
    expect(calls).toEqual(['r1', 'r1']);
  });

  it('keeps the last 1024 runs, forgetting the oldest first', async () => {
    const { stub, calls } = stubGuard(async (runId) => ({ token: `token-${runId}` }));
    const runKeys = new RunKeys({ guard: stub, key: root.token });
    for (let i = 0; i <= 1024; i++) await runKeys.token(`r${i}`);
    expect(calls).toHaveLength(1025);
    await runKeys.token('r1024'); // kept
    expect(calls).toHaveLength(1025);
    await runKeys.token('r0'); // forgotten: derived again
    expect(calls.at(-1)).toBe('r0');
    expect(calls).toHaveLength(1026);
  });
});
