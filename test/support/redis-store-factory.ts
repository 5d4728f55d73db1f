/**
 * Makes a RedisStore for a worker process (`store: { kind: 'module', path, args }` in
 * race-worker.ts) and for the Redis tests in this directory.
 */
import { randomBytes } from 'node:crypto';
import { RedisStore } from '../../packages/redis/src/index.ts';

export { RedisStore };

export interface RedisStoreArgs {
  url: string;
  prefix: string;
}

/** The Redis the tests use: the machine's own, unless SPENDGUARD_TEST_REDIS_URL says otherwise. */
export const TEST_REDIS_URL = process.env.SPENDGUARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test run shares. */
export function testPrefix(label: string): string {
  return `sgtest:${label}:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

export default function createRedisStore(args: unknown): RedisStore {
  const { url, prefix } = args as RedisStoreArgs;
  return new RedisStore({ url, prefix });
}
