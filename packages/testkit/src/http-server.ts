import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeResponse, Handle } from './engine.ts';
import { sleep } from './sleep.ts';

/** A fake listening on a real port. */
export interface FakeServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops listening and drops every connection, including ones held by `timeout_after_act`. */
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Default: `127.0.0.1` (loopback only). */
  host?: string;
  /** Default: 0, a free port chosen by the OS. */
  port?: number;
}

/** Serves `handle` over node:http. */
export async function listenHttp(handle: Handle, options: ListenOptions = {}): Promise<FakeServer> {
  const host = options.host ?? '127.0.0.1';
  // Aborted on close(), so delayed answers stop waiting and close() returns promptly.
  const closing = new AbortController();
  const server = createServer((req, res) => {
    serve(handle, req, res, closing.signal).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`fake vendor crashed: ${String(error)}`);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

async function serve(
  handle: Handle,
  req: IncomingMessage,
  res: ServerResponse,
  closing: AbortSignal,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const url = new URL(req.url ?? '/', 'http://fake.invalid');
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  // The client going away (its own timeout) ends any wait for it.
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  const signal = AbortSignal.any([closing, gone.signal]);

  const outcome = await handle(
    {
      method: (req.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      query: url.searchParams,
      headers,
      body: Buffer.concat(chunks).toString('utf8'),
    },
    signal,
  );
  if (outcome.type === 'reset') {
    req.socket.resetAndDestroy();
    return;
  }
  if (outcome.delayMs > 0 && !(await sleep(outcome.delayMs, signal))) {
    res.destroy();
    return;
  }
  write(res, outcome.response);
}

function write(res: ServerResponse, response: FakeResponse): void {
  if (res.destroyed) return;
  res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
  res.end(response.body);
}
