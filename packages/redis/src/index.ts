export type { RedisStoreStats } from './connections.ts';
export { type KeyLayout, keyLayout } from './keys.ts';
export { RedisStore, type RedisStoreOptions } from './redis-store.ts';
