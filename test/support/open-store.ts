import { SqliteStore, type Store } from '@spendguard/core';
import type { WorkerStore } from './race-worker.ts';

/** Open the store a worker process is told to use. */
export async function openStore(spec: WorkerStore): Promise<Store> {
  if (spec.kind === 'sqlite') return new SqliteStore({ file: spec.file });
  const factory = (await import(spec.path)) as { default: (args: unknown) => Store | Promise<Store> };
  return factory.default(spec.args);
}
