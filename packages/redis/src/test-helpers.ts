import { randomBytes } from 'node:crypto';
import type { ConformanceOptions } from '@spendguard/core/testing';
import type { Cluster, Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { RedisStore, type RedisStoreOptions } from './redis-store.ts';

/** The Redis the tests use: the machine's own, unless SPENDGUARD_TEST_REDIS_URL says otherwise. */
export const TEST_REDIS_URL = process.env.SPENDGUARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test run shares, so runs never collide and each can clean up after itself. */
export function testPrefix(label: string): string {
  return `sgtest:${label}:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/**
 * The stores of one test file, each under a prefix of its own below the file's: after the file,
 * every store opened here is closed and every key under the file's prefix removed.
 */
export function testStores(label: string) {
  const runPrefix = testPrefix(label);
  const opened: RedisStore[] = [];
  let n = 0;
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    const sweeper = new RedisStore({ url: TEST_REDIS_URL, prefix: runPrefix });
    await sweeper.clear();
    await sweeper.close();
  });
  /** A fresh prefix under the file's. */
  const prefix = () => `${runPrefix}${n++}:`;
  /** A store on the test Redis, under a fresh prefix unless `options.prefix` names one. */
  const open = (options: RedisStoreOptions = {}): RedisStore => {
    const store = new RedisStore({ url: TEST_REDIS_URL, prefix: prefix(), ...options });
    opened.push(store);
    return store;
  };
  return { prefix, open };
}

/**
 * The audit tampering the conformance suite asks for, done to a Redis store's keys with `client`
 * (a plain connection or a Cluster; a function, as a cluster's client exists only once it started): an edit, a deletion or a swap of linked rows, and a chain
 * rewritten from its first row, head included.
 */
export function auditTampering(
  connection: () => Redis | Cluster,
): Pick<ConformanceOptions, 'tamperAudit' | 'rewriteAudit'> {
  return {
    async tamperAudit(store, seq, how) {
      // Tampering with the record: rows already linked (the sealer links each within ms).
      await (store as RedisStore).seal();
      const client = connection();
      const key = `${(store as RedisStore).layout.global}audit`;
      if (how === 'delete') {
        await client.hdel(key, String(seq));
      } else if (how === 'swap') {
        const [a, b] = (await client.hmget(key, String(seq), String(seq + 1))) as [string, string];
        await client.hset(key, String(seq), b, String(seq + 1), a);
      } else {
        const row = (await client.hget(key, String(seq))) as string;
        await client.hset(key, String(seq), JSON.stringify({ ...JSON.parse(row), amount: 9999 }));
      }
    },
    async rewriteAudit(store, rows, head) {
      const global = (store as RedisStore).layout.global;
      const client = connection();
      // One slot (a store's global keys share one tag), so one MULTI on the node serving it.
      const tx = client.multi().del(`${global}audit`, `${global}audit:anchor`);
      for (const row of rows) tx.hset(`${global}audit`, String(row.seq), JSON.stringify(row));
      tx.set(`${global}audit:head`, `${head.seq} ${head.hash}`).set(`${global}audit:seq`, String(head.seq));
      if (head.anchor) tx.hset(`${global}audit:anchor`, head.anchor);
      await tx.exec();
    },
  };
}
