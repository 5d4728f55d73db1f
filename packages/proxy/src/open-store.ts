import { SqliteStore, type Store } from '@spendguard/core';

/**
 * The store a `store` string names, opened (and migrated, for Postgres):
 * - `undefined`: none here — the guard's default, SQLite under `.spendguard/` in the working directory;
 * - `sqlite:<file>`: SQLite in that file;
 * - `redis://…` or `rediss://…`: Redis; `?prefix=<p>` sets the key prefix (default `spendguard:`);
 * - `postgres://…` or `postgresql://…`: Postgres; `?schema=<s>` sets the schema (default `spendguard`).
 * The Redis and Postgres drivers are loaded only when named. Errors never repeat the string: it
 * may hold a password.
 */
export async function openStore(spec: string | undefined): Promise<Store | undefined> {
  if (spec === undefined) return undefined;
  if (spec.startsWith('sqlite:')) return new SqliteStore({ file: spec.slice('sqlite:'.length) });
  const scheme = /^([a-z]+):\/\//.exec(spec)?.[1];
  if (scheme === 'redis' || scheme === 'rediss') {
    const { url, param: prefix } = withoutParam(spec, 'prefix');
    const { RedisStore } = await import('@spendguard/redis');
    return new RedisStore({ url, ...(prefix !== undefined && { prefix }) });
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const { url, param: schema } = withoutParam(spec, 'schema');
    const { PostgresStore } = await import('@spendguard/postgres');
    const store = new PostgresStore({ url, ...(schema !== undefined && { schema }) });
    try {
      await store.migrate();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }
  throw new TypeError(
    'store must be sqlite:<file>, redis://…, rediss://…, postgres://… or postgresql://… (or left out for SQLite under .spendguard/)',
  );
}

/** The URL without one of our query parameters, and that parameter's value. */
function withoutParam(spec: string, name: string): { url: string; param: string | undefined } {
  const url = new URL(spec);
  const param = url.searchParams.get(name) ?? undefined;
  url.searchParams.delete(name);
  return { url: url.href, param };
}
