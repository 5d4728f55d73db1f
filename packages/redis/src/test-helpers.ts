import { randomBytes } from 'node:crypto';

/** The Redis the tests use: the machine's own, unless SPENDGUARD_TEST_REDIS_URL says otherwise. */
export const TEST_REDIS_URL = process.env.SPENDGUARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test run shares, so runs never collide and each can clean up after itself. */
export function testPrefix(label: string): string {
  return `sgtest:${label}:${process.pid}:${randomBytes(4).toString('hex')}:`;
}
