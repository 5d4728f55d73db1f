import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SpendguardError } from './errors.ts';
import { narrowPolicy, type PolicyDocument, type ResolvedPolicy } from './policy.ts';
import type { Store } from './store.ts';
import { MemoryStore } from './stores/memory-store.ts';
import { SqliteStore } from './stores/sqlite-store.ts';
import { FakeClock } from './testing/fake-clock.ts';
import { type DeriveOptions, type IssuedKey, VaultKeys } from './vault-keys.ts';

const MINUTE = 60_000;
const CHARGES = 'stripe:POST /v1/charges';
const REFUNDS = 'stripe:POST /v1/refunds';
const CUSTOMERS = 'stripe:GET /v1/customers/*';
const CAP_NAMES = ['perCall', 'perRun', 'perKey', 'perHour', 'perDay'] as const;
const TTL_MS = { '10m': 10 * MINUTE, '1h': 60 * MINUTE } as const;

const document: PolicyDocument = {
  policies: {
    billing: {
      caps: { perCall: 100, perRun: 100, perHour: 100, perDay: 100 },
      rate: { perMinute: 60 },
      stripe: { allow: ['POST /v1/charges', 'POST /v1/refunds', 'GET /v1/customers/*'] },
    },
  },
};

const dir = mkdtempSync(join(tmpdir(), 'spendguard-vault-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** A backend, and a second handle on the same stored state (another process, for SQLite). */
interface Backend {
  store: Store;
  reopen(): Store;
}

const backends: [string, () => Backend][] = [
  [
    'memory',
    () => {
      const store = new MemoryStore();
      return { store, reopen: () => store };
    },
  ],
  [
    'sqlite',
    () => {
      const file = join(dir, `keys-${files++}.db`);
      return { store: new SqliteStore({ file }), reopen: () => new SqliteStore({ file }) };
    },
  ],
];

/** The limits a key takes effect with, in a form `toEqual` compares: caps by name, operations as a set. */
function limits(policy: ResolvedPolicy) {
  return {
    caps: Object.fromEntries(CAP_NAMES.map((name) => [name, policy.caps[name] ?? null])),
    operations: [...new Set(policy.rules.map((rule) => rule.id))].sort(),
    ratePerMinute: policy.ratePerMinute ?? null,
  };
}

/** Each limit where `got` allows more than `asked`. */
function widerThan(got: ResolvedPolicy, asked: ResolvedPolicy): string[] {
  const wider: string[] = [];
  for (const name of CAP_NAMES) {
    const [have, want] = [got.caps[name], asked.caps[name]];
    if (want !== undefined && (have === undefined || have > want)) wider.push(`caps.${name}`);
  }
  const askedOperations = new Set(asked.rules.map((rule) => rule.id));
  if (got.rules.some((rule) => !askedOperations.has(rule.id))) wider.push('operations');
  const [have, want] = [got.ratePerMinute, asked.ratePerMinute];
  if (want !== undefined && (have === undefined || have > want)) wider.push('ratePerMinute');
  return wider;
}

describe.each(backends)('VaultKeys.derive for a run id (%s)', (_name, open) => {
  const opened: Store[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  async function setup(rootTtl?: string) {
    const backend = open();
    opened.push(backend.store);
    const clock = new FakeClock();
    const keys = new VaultKeys(backend.store, document, clock.now);
    const root = await keys.issueRoot({ policy: 'billing', ...(rootTtl && { ttl: rootTtl }) });
    /** The same keys as another process sees them: its own VaultKeys and caches, the same stored state. */
    const elsewhere = () => {
      const store = backend.reopen();
      if (store !== backend.store) opened.push(store);
      return new VaultKeys(store, document, clock.now);
    };
    return { store: backend.store, clock, keys, root, elsewhere };
  }

  async function policyOf(keys: VaultKeys, token: string): Promise<ResolvedPolicy> {
    const auth = await keys.authenticate(token);
    if ('code' in auth) throw new Error(`token does not authenticate: ${auth.message}`);
    return auth.policy;
  }

  async function runKeyCount(store: Store, runId: string): Promise<number> {
    return (await store.listKeys()).filter((key) => key.runId === runId).length;
  }

  it('returns the run key with a new token when asked for the same narrowing, even a while later', async () => {
    const { store, clock, keys, root } = await setup();
    const asked: DeriveOptions = {
      runId: 'run-1',
      caps: { perRun: 10, perCall: 5 },
      operations: [CHARGES, REFUNDS],
      ratePerMinute: 6,
      ttl: '1h',
    };
    const first = await keys.derive(root.token, asked);
    clock.advance(10 * MINUTE);
    // Operations are a set: order and repeats do not make another narrowing.
    const again = await keys.derive(root.token, { ...asked, operations: [REFUNDS, CHARGES, REFUNDS] });
    expect(first.reused).toBe(false);
    expect(again).toMatchObject({ id: first.id, reused: true, expiresAt: first.expiresAt });
    expect(again.token).not.toBe(first.token);
    // The ttl counts from when the run key was made: it expires no later than now + 1h.
    expect(again.expiresAt).toBe(clock.now() - 10 * MINUTE + 60 * MINUTE);
    for (const token of [first.token, again.token]) {
      expect(limits(await policyOf(keys, token))).toEqual({
        caps: { perCall: 5, perRun: 10, perKey: null, perHour: 100, perDay: 100 },
        operations: [CHARGES, REFUNDS],
        ratePerMinute: 6,
      });
    }
    expect(await runKeyCount(store, 'run-1')).toBe(1);
  });

  it('counts restating a limit of the parent as the same narrowing, and ignores the name', async () => {
    const { keys, root } = await setup();
    const first = await keys.derive(root.token, { runId: 'run-2', name: 'first' });
    const restated = await keys.derive(root.token, {
      runId: 'run-2',
      name: 'second',
      caps: { perRun: 100 },
      operations: [CUSTOMERS, CHARGES, REFUNDS],
      ratePerMinute: 60,
    });
    expect(restated).toMatchObject({ id: first.id, reused: true });
    expect((await keys.get(first.id))?.name).toBe('first');
  });

  it('refuses a narrower run key for a run id that has one, naming the run id and the field', async () => {
    const { store, keys, root } = await setup();
    const first = await keys.derive(root.token, { runId: 'run-7', caps: { perRun: 100 } });
    const narrower = keys.derive(root.token, { runId: 'run-7', caps: { perRun: 10 } });
    await expect(narrower).rejects.toThrow(SpendguardError);
    await expect(narrower).rejects.toMatchObject({
      code: 'narrowing_violation',
      message:
        'run run-7 already has a key with caps.perRun 100; this derive asks for caps.perRun 10. Use a new run id, or derive from the run key to narrow it further.',
    });
    expect((await policyOf(keys, first.token)).caps.perRun).toBe(100);
    expect(await runKeyCount(store, 'run-7')).toBe(1);
    // What the message advises: derive from the run key to narrow it.
    const child = await keys.derive(first.token, { caps: { perRun: 10 } });
    expect((await policyOf(keys, child.token)).caps.perRun).toBe(10);
  });

  it('refuses a wider run key too, and names every field that differs', async () => {
    const { keys, root } = await setup();
    await keys.derive(root.token, {
      runId: 'run-8',
      caps: { perRun: 10 },
      operations: [REFUNDS],
      ratePerMinute: 5,
      ttl: '1h',
    });
    await expect(keys.derive(root.token, { runId: 'run-8' })).rejects.toMatchObject({
      code: 'narrowing_violation',
      message:
        'run run-8 already has a key with caps.perRun 10, ' +
        `operations [${REFUNDS}], ratePerMinute 5, expiresAt 2026-11-24T11:00:00.000Z; ` +
        'this derive asks for caps.perRun 100, ' +
        `operations [${CUSTOMERS}, ${CHARGES}, ${REFUNDS}], ratePerMinute 60, ` +
        'expiresAt never (a ttl counts from when the run key was made). ' +
        'Use a new run id, or derive from the run key to narrow it further.',
    });
  });

  it('compares expiry as it takes effect: another ttl is another narrowing unless both end with the parent', async () => {
    const { clock, keys, root } = await setup('30m');
    const first = await keys.derive(root.token, { runId: 'run-9', ttl: '1h' });
    expect(first.expiresAt).toBe(root.expiresAt); // capped at the parent's expiry
    clock.advance(5 * MINUTE);
    // 2h from the run key's creation also ends with the parent: the same key.
    await expect(keys.derive(root.token, { runId: 'run-9', ttl: '2h' })).resolves.toMatchObject({
      id: first.id,
      expiresAt: first.expiresAt,
    });
    await expect(keys.derive(root.token, { runId: 'run-9', ttl: '10m' })).rejects.toMatchObject({
      code: 'narrowing_violation',
      message: expect.stringMatching(
        /^run run-9 already has a key with expiresAt 2026-11-24T10:30:00.000Z; this derive asks for expiresAt 2026-11-24T10:10:00.000Z/,
      ),
    });
  });

  it('does not issue a revoked run key again', async () => {
    const { store, keys, root } = await setup();
    const run = await keys.derive(root.token, { runId: 'run-10', caps: { perRun: 10 } });
    await keys.revoke(run.id);
    await expect(keys.derive(root.token, { runId: 'run-10', caps: { perRun: 10 } })).rejects.toMatchObject({
      code: 'key_invalid',
      message:
        'run run-10 already has a key, revoked at 2026-11-24T10:00:00.000Z: a revoked run key is not issued again. Use a new run id.',
    });
    expect((await store.getKey(run.id))?.revokedAt).not.toBeNull();
    expect(await runKeyCount(store, 'run-10')).toBe(1);
  });

  it('does not issue an expired run key again', async () => {
    const { store, clock, keys, root } = await setup();
    const run = await keys.derive(root.token, { runId: 'run-11', ttl: '10m' });
    clock.advance(10 * MINUTE);
    await expect(keys.derive(root.token, { runId: 'run-11', ttl: '10m' })).rejects.toMatchObject({
      code: 'key_invalid',
      message:
        'run run-11 already has a key, expired at 2026-11-24T10:10:00.000Z: an expired run key is not issued again. Use a new run id.',
    });
    expect(await keys.authenticate(run.token)).toMatchObject({ code: 'key_expired' });
    expect((await store.getKey(run.id))?.expiresAt).toBe(run.expiresAt);
  });

  it('ends 20 concurrent derives of one narrowing with one key', async () => {
    const { store, keys, root } = await setup();
    const asked: DeriveOptions = { runId: 'run-12', caps: { perRun: 10 }, operations: [REFUNDS] };
    const derived = await Promise.all(Array.from({ length: 20 }, () => keys.derive(root.token, asked)));
    expect(new Set(derived.map((key) => key.id)).size).toBe(1);
    expect(new Set(derived.map((key) => key.token)).size).toBe(20);
    expect(await runKeyCount(store, 'run-12')).toBe(1);
    const askedPolicy = narrowPolicy(await policyOf(keys, root.token), asked);
    for (const key of derived) expect(limits(await policyOf(keys, key.token))).toEqual(limits(askedPolicy));
  });

  it('gives concurrent derives of different narrowings, from 20 processes, the stored key or narrowing_violation', async () => {
    const { store, keys, root, elsewhere } = await setup();
    // Each process has its own caches, so none can lean on what another derive there cached.
    const processes = Array.from({ length: 20 }, () => elsewhere());
    const asks = (i: number): DeriveOptions => ({ runId: 'run-13', caps: { perRun: i % 2 === 0 ? 10 : 20 } });
    const settled = await Promise.allSettled(processes.map((other, i) => other.derive(root.token, asks(i))));
    const stored = (await store.listKeys()).find((key) => key.runId === 'run-13');
    const storedPerRun = stored?.narrowing?.caps?.perRun;
    expect([10, 20]).toContain(storedPerRun);
    settled.forEach((outcome, i) => {
      if (asks(i).caps?.perRun === storedPerRun) {
        expect(outcome).toMatchObject({ status: 'fulfilled', value: { id: stored?.id } });
      } else {
        expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'narrowing_violation' } });
      }
    });
    // Every process sees the stored key's limits behind every token handed out.
    for (const outcome of settled) {
      if (outcome.status !== 'fulfilled') continue;
      for (const reader of [keys, ...processes]) {
        expect((await policyOf(reader, outcome.value.token)).caps.perRun).toBe(storedPerRun);
      }
    }
    expect(await runKeyCount(store, 'run-13')).toBe(1);
  });

  it('still makes a new key on every derive without a run id', async () => {
    const { keys, root } = await setup();
    const a = await keys.derive(root.token, { caps: { perRun: 10 } });
    const b = await keys.derive(root.token, { caps: { perRun: 20 } });
    expect(a.id).not.toBe(b.id);
    expect([a.reused, b.reused]).toEqual([false, false]);
    expect((await policyOf(keys, b.token)).caps.perRun).toBe(20);
  });

  it('never returns a run key other than the one asked for (property)', async () => {
    const { clock, keys, root } = await setup();
    const rootPolicy = await policyOf(keys, root.token);
    const capValue = fc.option(fc.constantFrom(10, 50, 100), { nil: undefined });
    const narrowing = fc.record({
      caps: fc.option(
        fc.record({ perCall: capValue, perRun: capValue, perHour: capValue, perKey: capValue }),
        { nil: undefined },
      ),
      operations: fc.option(fc.array(fc.constantFrom(CHARGES, REFUNDS, CUSTOMERS), { maxLength: 4 }), {
        nil: undefined,
      }),
      ratePerMinute: fc.option(fc.constantFrom(10, 60), { nil: undefined }),
      ttl: fc.option(fc.constantFrom<keyof typeof TTL_MS>('10m', '1h'), { nil: undefined }),
    });
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        narrowing,
        narrowing,
        fc.boolean(),
        fc.nat({ max: 20 * MINUTE }),
        async (first, other, repeat, later) => {
          const runId = `property-${runs++}`;
          // Half the time ask again for the first narrowing, its operations in another order.
          const second = repeat ? { ...first, operations: first.operations?.toReversed() } : other;
          const firstKey = await keys.derive(root.token, { ...first, runId });
          const firstPolicy = await policyOf(keys, firstKey.token);
          expect(limits(firstPolicy)).toEqual(limits(narrowPolicy(rootPolicy, first)));
          const madeAt = clock.now();
          clock.advance(later);
          const askedPolicy = narrowPolicy(rootPolicy, second);
          const askedExpiry = second.ttl === undefined ? null : madeAt + TTL_MS[second.ttl];
          const expired = firstKey.expiresAt !== null && firstKey.expiresAt <= clock.now();
          const same =
            JSON.stringify(limits(askedPolicy)) === JSON.stringify(limits(firstPolicy)) &&
            askedExpiry === firstKey.expiresAt;

          const outcome = await keys
            .derive(root.token, { ...second, runId })
            .catch((error: unknown) => error);
          if (expired) {
            expect(outcome).toMatchObject({ code: 'key_invalid' });
          } else if (!same) {
            expect(outcome).toBeInstanceOf(SpendguardError);
            expect(outcome).toMatchObject({
              code: 'narrowing_violation',
              message: expect.stringContaining(runId),
            });
          } else {
            const secondKey = outcome as IssuedKey;
            expect(secondKey).toMatchObject({ id: firstKey.id, expiresAt: firstKey.expiresAt });
            const secondPolicy = await policyOf(keys, secondKey.token);
            expect(limits(secondPolicy)).toEqual(limits(firstPolicy));
            expect(limits(secondPolicy)).toEqual(limits(askedPolicy));
            expect(widerThan(secondPolicy, askedPolicy)).toEqual([]);
            if (second.ttl !== undefined) {
              expect(secondKey.expiresAt).toBeLessThanOrEqual(clock.now() + TTL_MS[second.ttl]);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
