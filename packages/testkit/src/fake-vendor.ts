import type { HttpHandler } from 'msw';
import type { Handle } from './engine.ts';
import type { CommonFault, Faults, StripeFault } from './faults.ts';
import { type FakeServer, type ListenOptions, listenHttp } from './http-server.ts';
import { mswHandlers } from './msw-handlers.ts';

/** What every fake offers: one in-memory vendor, reachable over a real port and through msw. */
export interface FakeVendor<L, F extends StripeFault = CommonFault> {
  /** What happened: requests seen and what the vendor did. */
  readonly ledger: L;
  /** Failures to inject into coming requests. */
  readonly faults: Faults<F>;
  /**
   * msw handlers for the vendor's real base URL, over the same state as the servers from
   * `listen()`. Built on first use; needs msw ^3 installed.
   */
  readonly handlers: HttpHandler[];
  /** Starts a real HTTP server on 127.0.0.1 and a free port. Each call starts another one. */
  listen(options?: ListenOptions): Promise<FakeServer>;
  /** Forgets every object, idempotency key, ledger entry and armed fault. */
  reset(): void;
}

/**
 * Adds the transports to a fake: servers and msw handlers around one `handle`. `handlers` is a
 * getter on the fake itself (a spread would call it), so msw loads only when it is used.
 */
export function withTransports<T extends Pick<FakeVendor<unknown>, 'handlers' | 'listen'>>(
  origin: string,
  handle: Handle,
  fake: Omit<T, 'handlers' | 'listen'>,
): T {
  let handlers: HttpHandler[] | undefined;
  return Object.defineProperties(fake, {
    handlers: {
      enumerable: true,
      get: () => {
        handlers ??= mswHandlers(origin, handle);
        return handlers;
      },
    },
    listen: { enumerable: true, value: (options?: ListenOptions) => listenHttp(handle, options) },
  }) as T;
}
