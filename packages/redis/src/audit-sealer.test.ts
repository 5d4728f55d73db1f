import { hash } from 'node:crypto';
import { verifyAuditChain, verifyAuditRows } from '@spendguard/core';
import { type AuditRow, chainAudit } from '@spendguard/core/store-kit';
import { chargeAudit } from '@spendguard/core/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { SEAL } from './lua/scripts.ts';
import { RedisStore, type RedisStoreOptions } from './redis-store.ts';
import { TEST_REDIS_URL, testStores } from './test-helpers.ts';

/**
 * Rows are appended unlinked in each atomic step and linked by a sealer right after. These pin
 * what that must not weaken: every row linked exactly as chainAudit links it, whoever seals, in
 * whatever interleaving; a row deleted before it was linked is still named by verify.
 */

const admin = new Redis(TEST_REDIS_URL);
afterAll(() => admin.quit());
const stores = testStores('sealer');
const prefix = stores.prefix;
const open = (prefixed: string, options: RedisStoreOptions = {}) =>
  stores.open({ ...options, prefix: prefixed });

/** A store whose own timer never fires during a test: only reads and explicit seals link rows. */
const NEVER = { sealDelayMs: 3_600_000 };

async function rawHead(store: RedisStore): Promise<string | null> {
  return admin.get(`${store.layout.global}audit:head`);
}

/**
 * SEAL's arguments for the rows after `head` as they are now (what a sealer would send after
 * reading them), and a way to run it later, after the rows changed or not.
 */
async function sealLater(store: RedisStore): Promise<() => Promise<number>> {
  const global = store.layout.global;
  const head = (await admin.get(`${global}audit:head`)) ?? '';
  const linked = head === '' ? 0 : Number(head.split(' ')[0]);
  const appended = Number(await admin.get(`${global}audit:seq`));
  let prev = head === '' ? '0'.repeat(64) : (head.split(' ')[1] as string);
  const args = [global, store.layout.rootOpen, store.layout.rootClose, head];
  for (let seq = linked + 1; seq <= appended; seq++) {
    const row = (await admin.hget(`${global}audit`, String(seq))) as string;
    prev = hash('sha256', `${prev}\n${row}`, 'hex');
    args.push(head === '' ? row : String(Buffer.byteLength(row)), prev);
  }
  return async () => Number(await admin.eval(SEAL.lua, 1, `${global}audit:head`, ...args));
}

/** Row `seq` with one character of its idempotency key changed: the same length, other content. */
async function editInPlace(store: RedisStore, seq: number): Promise<void> {
  const key = `${store.layout.global}audit`;
  const row = (await admin.hget(key, String(seq))) as string;
  const edited = row.replace('"idempotencyKey":"k', '"idempotencyKey":"x');
  expect(edited).not.toBe(row);
  await admin.hset(key, String(seq), edited);
}

describe('RedisStore audit sealer', () => {
  it('links the rows it appended on its own, shortly after, without a read', async () => {
    // Long enough that the append returns before its timer fires, even on a loaded machine.
    const store = open(prefix(), { sealDelayMs: 200 });
    await store.appendAudit(chargeAudit('key_1', 'k1', 1));
    expect(await rawHead(store)).toBeNull();
    for (let i = 2; i <= 3; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
    for (let i = 0; i < 500 && (await rawHead(store))?.split(' ')[0] !== '3'; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect((await rawHead(store))?.split(' ')[0]).toBe('3');
  });

  it('another store on the prefix links rows a store appended and never linked (its process died)', async () => {
    const p = prefix();
    const writer = open(p, NEVER);
    const entries = Array.from({ length: 1_200 }, (_, i) => chargeAudit('key_1', `k${i}`, i));
    for (const e of entries) await writer.appendAudit(e);
    expect(await rawHead(writer)).toBeNull();
    // Another store on the same prefix: its first read links all of them, in batches, in order.
    const reader = open(p, NEVER);
    const rows = await reader.readAudit();
    let previous: AuditRow | undefined;
    for (const [i, e] of entries.entries()) {
      previous = chainAudit(e, previous);
      expect(rows[i]).toEqual(JSON.parse(JSON.stringify(previous)));
    }
    expect(await reader.auditHead()).toMatchObject({ seq: 1_200, hash: previous?.hash });
  });

  it('links a batch in two commands, off the appends: 1,000 rows cost 4 sealer commands', async () => {
    const store = open(prefix(), NEVER);
    for (let i = 0; i < 1_000; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
    const before = store.stats;
    expect(await store.seal()).toEqual({ linked: 1_000, appended: 1_000, blocked: false });
    const after = store.stats;
    // Two batches of 500, each one read and one write; the second reaches the last appended row.
    expect(after.sealCommands - before.sealCommands).toBe(4);
    expect(after.commands - before.commands).toBe(4);
  });

  it('many appenders and sealers at once (several stores, many promises) leave one valid chain', async () => {
    const p = prefix();
    const stores = Array.from({ length: 4 }, () => open(p, { sealDelayMs: 0 }));
    await Promise.all(
      stores.flatMap((store, s) =>
        Array.from({ length: 150 }, async (_, i) => {
          await store.appendAudit(chargeAudit(`key_${s}`, `k${i}`, i));
          if (i % 7 === 0) await store.seal();
        }),
      ),
    );
    const rows = await stores[0]?.readAudit();
    expect(rows).toHaveLength(600);
    expect(verifyAuditRows(rows ?? [])).toEqual({ ok: true, rows: 600 });
    expect(new Set(rows?.map((r) => r.hash)).size).toBe(600);
  });

  it('a row deleted before it was linked: verify names it, and no row after it is linked', async () => {
    const p = prefix();
    const store = open(p, NEVER);
    for (let i = 1; i <= 3; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
    await store.seal();
    for (let i = 4; i <= 6; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
    await admin.hdel(`${store.layout.global}audit`, '4');
    expect(await store.seal()).toEqual({ linked: 3, appended: 6, blocked: true });
    const rows = await store.readAudit();
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 5, 6]);
    expect(verifyAuditRows(rows)).toMatchObject({ ok: false, seq: 4, problem: 'missing' });
    // Appends go on (the step needs no link), and stay unlinked behind the gap.
    await store.appendAudit(chargeAudit('key_1', 'k7', 7));
    expect(await store.auditHead()).toMatchObject({ seq: 7, hash: '' });
    expect((await rawHead(store))?.split(' ')[0]).toBe('3');
  });

  it('the newest row deleted before it was linked: the head still counts it, so verify says truncated', async () => {
    const p = prefix();
    const store = open(p, NEVER);
    for (let i = 1; i <= 4; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
    await admin.hdel(`${store.layout.global}audit`, '4');
    const head = await store.auditHead();
    expect(head).toMatchObject({ seq: 4, hash: '' });
    const rows = await store.readAudit();
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(verifyAuditRows(rows)).toEqual({ ok: true, rows: 3 });
    expect(verifyAuditChain(rows, head)).toMatchObject({ ok: false, seq: 4, problem: 'truncated' });
  });

  it('does not anchor a row that is not linked yet', async () => {
    const store = open(prefix(), NEVER);
    await store.appendAudit(chargeAudit('key_1', 'k1', 1));
    await store.anchorAudit({ seq: 1, hash: 'f'.repeat(64), hmac: 'a'.repeat(64) });
    expect(await admin.exists(`${store.layout.global}audit:anchor`)).toBe(0);
    const head = await store.auditHead();
    await store.anchorAudit({ seq: 1, hash: head?.hash as string, hmac: 'a'.repeat(64) });
    expect((await store.auditHead())?.anchor).toMatchObject({ seq: 1 });
  });

  it('close() links what is left', async () => {
    const p = prefix();
    const store = new RedisStore({ url: TEST_REDIS_URL, prefix: p, ...NEVER });
    await store.appendAudit(chargeAudit('key_1', 'k1', 1));
    await store.close();
    expect((await admin.get(`${p}{global}:audit:head`))?.split(' ')[0]).toBe('1');
  });

  it('the write changes nothing when a row changed since it was read (its length, or anything while nothing is linked)', async () => {
    const store = open(prefix(), NEVER);
    const key = `${store.layout.global}audit`;
    for (let i = 1; i <= 3; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
    // Nothing linked yet: the head cannot tell a log written again after clear() from the one
    // read, so the rows are compared whole; a row of the same length but other text is refused.
    const first = await sealLater(store);
    await editInPlace(store, 2);
    const before = await admin.hgetall(key);
    expect(await first()).toBe(0);
    expect(await admin.hgetall(key)).toEqual(before);
    expect(await rawHead(store)).toBeNull();
    await store.seal();
    // With a head: a row whose length changed (an edit, or a link the head does not show) is refused.
    for (let i = 4; i <= 6; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
    const second = await sealLater(store);
    const row = (await admin.hget(key, '5')) as string;
    await admin.hset(key, '5', JSON.stringify({ ...JSON.parse(row), amount: 99999 }));
    const head = await rawHead(store);
    const unlinked = await admin.hmget(key, '4', '5', '6');
    expect(await second()).toBe(0);
    expect(await rawHead(store)).toBe(head);
    expect(await admin.hmget(key, '4', '5', '6')).toEqual(unlinked);
  });

  it('a row edited to the same length between the read and the write is linked as read: verify names it', async () => {
    const store = open(prefix(), NEVER);
    for (let i = 1; i <= 2; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
    await store.seal();
    for (let i = 3; i <= 5; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
    const write = await sealLater(store);
    await editInPlace(store, 4);
    expect(await write()).toBe(1);
    const rows = await store.readAudit();
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(rows[3]?.idempotencyKey).toBe('x4');
    expect(verifyAuditRows(rows)).toMatchObject({ ok: false, seq: 4, problem: 'edited' });
  });

  it('another sealer moved the head between the read and the write: the write changes nothing', async () => {
    const store = open(prefix(), NEVER);
    for (let i = 1; i <= 3; i++) await store.appendAudit(chargeAudit('key_1', `k${i}`, i));
    const late = await sealLater(store);
    await store.seal();
    const key = `${store.layout.global}audit`;
    const linked = await admin.hgetall(key);
    const head = await rawHead(store);
    expect(await late()).toBe(0);
    expect(await admin.hgetall(key)).toEqual(linked);
    expect(await rawHead(store)).toBe(head);
    expect(verifyAuditRows(await store.readAudit())).toEqual({ ok: true, rows: 3 });
  });
});
