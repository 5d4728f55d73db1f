import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type AdminApi, type AdminApiOptions, createAdminApi } from './admin-api.ts';

export interface ServeAdminOptions extends AdminApiOptions {
  /** The interface to listen on. Default: `127.0.0.1` (this machine only). */
  host?: string;
  /** The port. Default: 0, a free one chosen by the OS (`url` tells which). */
  port?: number;
  /** Serve HTTPS with this certificate and key (PEM files). Default: plain HTTP. */
  tls?: { certFile: string; keyFile: string };
}

export interface ServedAdmin {
  /** `http(s)://host:port`, with the port really listened on; no trailing slash. */
  url: string;
  api: AdminApi;
  /** Stops listening and ends idle connections (an export in flight is ended). */
  close(): Promise<void>;
}

/** `createAdminApi` over `node:http(s)`; response bodies are streamed (an export never sits in memory). */
export async function serveAdmin(options: ServeAdminOptions): Promise<ServedAdmin> {
  const { host = '127.0.0.1', port = 0, tls, ...apiOptions } = options;
  const api = createAdminApi(apiOptions);
  const sockets = new Set<import('node:net').Socket>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    handle(api, origin, req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end('{"error":{"code":"request_invalid","message":"the request could not be read"}}');
    });
  };
  const server: Server = tls
    ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, handler)
    : createHttpServer(handler);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const origin = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  let closed: Promise<void> | undefined;
  return {
    url: origin,
    api,
    close() {
      closed ??= new Promise<void>((resolve) => {
        api.close();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}

async function handle(
  api: AdminApi,
  origin: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const method = req.method ?? 'GET';
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  }
  const target = req.url ?? '/';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const request = new Request(`${origin}${target.startsWith('/') ? '' : '/'}${target}`, {
    method,
    headers,
    ...(hasBody && { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' }),
  });
  const response = await api.fetch(request);
  res.statusCode = response.status;
  for (const [name, value] of response.headers) res.appendHeader(name, value);
  if (!response.body || method === 'HEAD') {
    res.end();
    return;
  }
  // Backpressure from the socket reaches the stream's pull: a slow reader slows the export.
  await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), res);
}
