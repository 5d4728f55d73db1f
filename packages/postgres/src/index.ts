export {
  DEFAULT_POSTGRES_SCHEMA,
  PostgresStore,
  type PostgresStoreOptions,
  type PostgresStoreStats,
} from './postgres-store.ts';
export { SCHEMA_VERSION } from './schema.ts';
