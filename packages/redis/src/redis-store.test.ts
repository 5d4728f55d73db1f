import { describeStoreConformance } from '@spendguard/core/testing';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { RedisStore } from './redis-store.ts';
import { TEST_REDIS_URL, testPrefix } from './test-helpers.ts';

const runPrefix = testPrefix('conformance');
const admin = new Redis(TEST_REDIS_URL);
let n = 0;

afterAll(async () => {
  const sweeper = new RedisStore({ url: TEST_REDIS_URL, prefix: runPrefix });
  await sweeper.clear();
  await sweeper.close();
  await admin.quit();
});

describeStoreConformance(
  'redis',
  () => new RedisStore({ url: TEST_REDIS_URL, prefix: `${runPrefix}${n++}:` }),
  {
    async tamperAudit(store, seq, how) {
      // Tampering with the record: rows already linked (the sealer links each within ms).
      await (store as RedisStore).seal();
      const key = `${(store as RedisStore).layout.global}audit`;
      if (how === 'delete') {
        await admin.hdel(key, String(seq));
      } else if (how === 'swap') {
        const [a, b] = (await admin.hmget(key, String(seq), String(seq + 1))) as [string, string];
        await admin.hset(key, String(seq), b, String(seq + 1), a);
      } else {
        const row = (await admin.hget(key, String(seq))) as string;
        await admin.hset(key, String(seq), JSON.stringify({ ...JSON.parse(row), amount: 9999 }));
      }
    },
    async rewriteAudit(store, rows, head) {
      const global = (store as RedisStore).layout.global;
      const tx = admin.multi().del(`${global}audit`, `${global}audit:anchor`);
      for (const row of rows) tx.hset(`${global}audit`, String(row.seq), JSON.stringify(row));
      tx.set(`${global}audit:head`, `${head.seq} ${head.hash}`).set(`${global}audit:seq`, String(head.seq));
      if (head.anchor) tx.hset(`${global}audit:anchor`, head.anchor);
      await tx.exec();
    },
  },
);
