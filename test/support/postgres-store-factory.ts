/**
 * Builds a Postgres store for a race worker (`store: { kind: 'module', path, args }`): the
 * worker imports this module and calls its default export with `args`.
 */
import { PostgresStore, type PostgresStoreOptions } from '../../packages/postgres/src/index.ts';

export type PostgresFactoryArgs = Pick<PostgresStoreOptions, 'url' | 'schema' | 'max'>;

export default function postgresStore(args: PostgresFactoryArgs): PostgresStore {
  return new PostgresStore(args);
}
