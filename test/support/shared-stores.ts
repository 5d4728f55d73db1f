/**
 * The backends a fleet of processes can share, for the cross-process tests: each opens a fresh
 * store in this process and says how a worker process opens the same one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore, type Store } from '@spendguard/core';
import { testSchemas } from '../../packages/postgres/src/test-support.ts';
import type { WorkerStore } from './race-worker.ts';
import { RedisStore, TEST_REDIS_URL, testPrefix } from './redis-store-factory.ts';

export interface SharedStore {
  name: 'sqlite' | 'redis' | 'postgres';
  /** A fresh, empty store, and how a worker process opens the same one. */
  open(label: string): Promise<{ spec: WorkerStore; store: Store }>;
  /** Remove everything the opened stores left (files, keys, schemas). */
  cleanup(): Promise<void>;
}

const factory = (name: string) => fileURLToPath(new URL(`./${name}-store-factory.ts`, import.meta.url));

export function sharedStores(): SharedStore[] {
  const dir = mkdtempSync(join(tmpdir(), 'spendguard-shared-'));
  const prefixes: string[] = [];
  const pg = testSchemas();
  return [
    {
      name: 'sqlite',
      async open(label) {
        const file = join(dir, `${label}.db`);
        return { spec: { kind: 'sqlite', file }, store: new SqliteStore({ file }) };
      },
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    },
    {
      name: 'redis',
      async open(label) {
        const args = { url: TEST_REDIS_URL, prefix: testPrefix(label) };
        prefixes.push(args.prefix);
        return { spec: { kind: 'module', path: factory('redis'), args }, store: new RedisStore(args) };
      },
      async cleanup() {
        for (const prefix of prefixes) {
          const sweeper = new RedisStore({ url: TEST_REDIS_URL, prefix });
          await sweeper.clear();
          await sweeper.close();
        }
      },
    },
    {
      name: 'postgres',
      async open(label) {
        const schema = pg.schema(`sg_${label}`);
        const store = await pg.store({ schema });
        // Five connections per worker: 4 × 5 stay well inside the server's max_connections.
        return {
          spec: { kind: 'module', path: factory('postgres'), args: { url: pg.url, schema, max: 5 } },
          store,
        };
      },
      cleanup: () => pg.dropAll(),
    },
  ];
}
