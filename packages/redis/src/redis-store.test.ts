import { describeStoreConformance } from '@spendguard/core/testing';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { RedisStore } from './redis-store.ts';
import { auditTampering, TEST_REDIS_URL, testPrefix } from './test-helpers.ts';

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
  auditTampering(() => admin),
);
