import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { PostgresStore, type PostgresStoreOptions } from '@spendguard/postgres';
import { RedisStore, type RedisStoreOptions } from '@spendguard/redis';
import { Redis } from 'ioredis';
import pg from 'pg';

export { PostgresStore, RedisStore };

/** The machine's own servers, unless the environment says otherwise. */
export const REDIS_URL = process.env.SPENDGUARD_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL =
  process.env.SPENDGUARD_BENCH_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** A Redis key prefix no other run shares (cleared by the bench when done). */
export function benchPrefix(label: string): string {
  return `sgbench:${label}:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/** A Postgres schema name no other run shares (dropped by the bench when done). */
export function benchSchema(label: string): string {
  return `sgbench_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** ioredis's client, as the Redis store's own options type names it. */
export type RedisClient = NonNullable<RedisStoreOptions['client']>;
/** pg's Pool, as the Postgres store's own options type names it. */
export type PgPool = NonNullable<PostgresStoreOptions['pool']>;

/** A plain ioredis client: the same driver the store uses, for bare `PING`s. */
export function bareRedis(url: string): RedisClient {
  const client = new Redis(url, { connectionName: 'spendguard-bench', maxRetriesPerRequest: 0 });
  client.on('error', () => {}); // a failed PING throws where it is awaited
  return client;
}

/** A plain pg Pool sized like the store's default (10), for bare `SELECT 1`s. */
export function barePool(url: string, max = 10): PgPool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    keepAlive: true,
    application_name: 'spendguard-bench',
  });
  pool.on('error', () => {});
  return pool;
}

/** Wall clock in ms with sub-ms precision, comparable across processes on one machine. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

const TICKS_PER_SECOND = 100; // CLK_TCK on Linux

/**
 * CPU time used so far by each process named `name` (its `comm`: `redis-server`, `postgres`),
 * from /proc, in µs per pid; null when /proc does not show the server (it runs elsewhere).
 * Diff two snapshots with `cpuSince`. Other clients of the same server are counted too.
 */
export function serverCpu(name: string): Map<number, number> | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  const found = new Map<number, number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited, or not ours to read
    }
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (stat.slice(open + 1, close) !== name) continue;
    // Fields after the command: state is field 3, utime 14 and stime 15 (1-based, in ticks).
    const fields = stat.slice(close + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    found.set(Number(entry), (ticks / TICKS_PER_SECOND) * 1e6);
  }
  return found.size === 0 ? null : found;
}

/** µs of CPU the named server used since `before` (processes started since count in full). */
export function cpuSince(name: string, before: Map<number, number> | null): number | null {
  const after = serverCpu(name);
  if (!before || !after) return null;
  let used = 0;
  for (const [pid, us] of after) used += us - (before.get(pid) ?? 0);
  return used;
}
