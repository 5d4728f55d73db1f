import { Agent, fetch as undiciFetch } from 'undici';

/** A `fetch` that reaches the vendors, and a way to close its connections. */
export interface UpstreamPool {
  fetch: typeof fetch;
  close(): Promise<void>;
}

/**
 * The default way to the vendors: undici's fetch over one Agent, which keeps a pool of
 * keep-alive connections per origin, so a call does not pay for a new TLS handshake.
 */
export function createUpstreamPool(): UpstreamPool {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 });
  const send = (input: string | URL | Request, init?: RequestInit) =>
    // undici's own types describe the same WHATWG fetch as the global one's.
    undiciFetch(input as Parameters<typeof undiciFetch>[0], {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher: agent,
    }) as unknown as Promise<Response>;
  return { fetch: send, close: () => agent.close() };
}
