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
  const send = async (input: string | URL | Request, init?: RequestInit) => {
    // undici's fetch only knows its own Request class; a global Request (Node bundles another
    // copy of undici) would be read as the URL "[object Request]". So pass its parts instead.
    const parts =
      input instanceof Request
        ? {
            url: input.url,
            init: {
              method: input.method,
              headers: input.headers,
              signal: input.signal,
              ...(input.body !== null && { body: new Uint8Array(await input.arrayBuffer()) }),
            },
          }
        : { url: input, init: {} };
    // undici's own types describe the same WHATWG fetch as the global one's.
    return (await undiciFetch(parts.url as Parameters<typeof undiciFetch>[0], {
      ...(parts.init as Parameters<typeof undiciFetch>[1]),
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher: agent,
    })) as unknown as Response;
  };
  return { fetch: send, close: () => agent.close() };
}
