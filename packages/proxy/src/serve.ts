import { resolve } from 'node:path';
import { createGuard } from '@spendguard/core';
import { openStore } from './open-store.ts';
import type { ProxyOptions } from './options.ts';
import { type ServedProxy, type ServeProxyOptions, serveProxy } from './serve-proxy.ts';

export interface ServeOptions extends Omit<ServeProxyOptions, 'guard' | 'logger'> {
  /** The policy file (YAML or JSON). Default: `spendguard.yaml` in the working directory. */
  config?: string;
  /**
   * Where state lives. Default: SQLite under `.spendguard/` in the working directory. Or
   * `sqlite:<file>`, `redis://…` (`?prefix=`), `postgres://…` (`?schema=`; migrated on start).
   */
  store?: string;
  /** Receives one JSON line per request. Default: standard output. */
  logger?: ProxyOptions['logger'];
}

/**
 * The whole proxy from a policy file: opens the store, builds the guard, and serves the proxy
 * (`spendguard serve`). `close()` stops the server and closes the store.
 */
export async function serve(options: ServeOptions = {}): Promise<ServedProxy> {
  const { config = 'spendguard.yaml', store: storeSpec, logger, ...serveOptions } = options;
  const store = await openStore(storeSpec);
  let guard: ReturnType<typeof createGuard>;
  try {
    guard = createGuard({ policies: resolve(config), ...(store && { store }) });
  } catch (error) {
    await store?.close();
    throw error;
  }
  let served: ServedProxy;
  try {
    served = await serveProxy({
      ...serveOptions,
      guard,
      logger: logger ?? ((line) => process.stdout.write(`${line}\n`)),
    });
  } catch (error) {
    await guard.close();
    throw error;
  }
  return {
    url: served.url,
    async close() {
      await served.close();
      await guard.close();
    },
  };
}
