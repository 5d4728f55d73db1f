/**
 * Helpers for this package's tests and the workspace's cross-process tests (not exported from the
 * package): the test database URL, one fresh schema per test, and dropping them afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore, type PostgresStoreOptions } from './postgres-store.ts';

/** The machine's Postgres; override with SPENDGUARD_TEST_POSTGRES_URL. */
export const TEST_POSTGRES_URL =
  process.env.SPENDGUARD_TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** A schema name no other run or test uses. */
export function uniqueSchema(prefix = 'sg_test'): string {
  return `${prefix}_${process.pid}_${randomBytes(5).toString('hex')}`;
}

/** A migrated store in its own schema; `dropAll()` removes every schema made this way. */
export function testSchemas(url = TEST_POSTGRES_URL) {
  const made: string[] = [];
  return {
    url,
    /** A fresh schema name, remembered for `dropAll`. */
    schema(prefix?: string): string {
      const name = uniqueSchema(prefix);
      made.push(name);
      return name;
    },
    async store(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
      const schema = options.schema ?? this.schema();
      if (!made.includes(schema)) made.push(schema);
      const store = new PostgresStore({ url, max: 4, ...options, schema });
      await store.migrate();
      return store;
    },
    /** Run SQL on a connection of its own (not the store's). */
    async sql<T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => {});
      await client.connect();
      try {
        return (await client.query(text, values)).rows as T[];
      } finally {
        await client.end();
      }
    },
    async dropAll(): Promise<void> {
      const names = made.splice(0);
      if (names.length === 0) return;
      await this.sql(names.map((n) => `DROP SCHEMA IF EXISTS "${n}" CASCADE`).join('; '));
    },
  };
}
