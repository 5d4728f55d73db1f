import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayOptionsError } from './errors.ts';

export interface ServeHttpOptions {
  /** Where to listen: loopback only (`127.0.0.1`, `::1`, `localhost`). Default: `127.0.0.1`. */
  host?: string;
  /** Default: 0, a free port chosen by the OS. */
  port?: number;
}

export interface ServedHttp {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * A thin node:http shim over a `fetch(request) → Response` handler: requests become `Request`s
 * (aborted when the client goes away), responses are streamed back as they come (Server-Sent
 * Events included). It listens on loopback only: a vault key must not cross a network in clear.
 */
export async function serveHttp(
  handler: { fetch(request: Request): Promise<Response> },
  options: ServeHttpOptions = {},
): Promise<ServedHttp> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host))
    throw new GatewayOptionsError(`host must be a loopback address, got ${JSON.stringify(host)}`);
  const server = createServer((req, res) => {
    answer(handler, req, res, base).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
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
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closed: Promise<void> | undefined;
  return {
    url: base,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

async function answer(
  handler: { fetch(request: Request): Promise<Response> },
  req: IncomingMessage,
  res: ServerResponse,
  base: string,
): Promise<void> {
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  }
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const request = new Request(new URL(req.url ?? '/', base), {
    method,
    headers,
    signal: gone.signal,
    // The handler reads (and bounds) the body as a stream.
    ...(hasBody && { body: readableOf(req), duplex: 'half' }),
  } as RequestInit);
  const response = await handler.fetch(request);
  const outgoing: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    outgoing[name] = value;
  });
  res.writeHead(response.status, outgoing);
  res.flushHeaders();
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  gone.signal.addEventListener('abort', () => void reader.cancel().catch(() => {}), { once: true });
  for (;;) {
    const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
    if (done || res.destroyed) break;
    if (!res.write(value)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
  }
  res.end();
}

function readableOf(req: IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      req.on('data', (chunk: Buffer) => controller.enqueue(new Uint8Array(chunk)));
      req.once('end', () => controller.close());
      req.once('error', (error) => controller.error(error));
    },
    cancel() {
      req.destroy();
    },
  });
}
