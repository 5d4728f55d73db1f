import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { PROXY_DEFAULTS, type ProxyOptions } from './options.ts';
import { createProxy, type Proxy as VendorProxy } from './proxy.ts';

export interface ServeProxyOptions extends ProxyOptions {
  /** The interface to listen on. Default: `127.0.0.1` (this machine only). */
  host?: string;
  /** The port. Default: 0, a free one chosen by the OS (`url` tells which). */
  port?: number;
  /** Serve HTTPS with this certificate and key (PEM files). Default: plain HTTP. */
  tls?: { certFile: string; keyFile: string };
}

export interface ServedProxy {
  /** `http(s)://host:port`, with the port really listened on; no trailing slash. */
  url: string;
  /** Stops listening, ends idle connections and the connections to the vendors. */
  close(): Promise<void>;
}

/** Node's own header bound, kept above the proxy's so the proxy answers first, in the vendor's shape. */
const NODE_HEADER_SLACK = 8 * 1024;

const BAD_REQUEST = JSON.stringify({
  error: { code: 'spendguard_request_invalid', message: 'the request could not be read' },
});

/** Headers of the message framing, which Node writes for the body it sends. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

/**
 * `createProxy` served over `node:http` (or `node:https` with `tls`): a thin shim that turns each
 * Node request into a `Request` and its body's bytes (read no further than the proxy's limit),
 * and writes the `Response` back.
 */
export async function serveProxy(options: ServeProxyOptions): Promise<ServedProxy> {
  const { host = '127.0.0.1', port = 0, tls, ...proxyOptions } = options;
  const proxy = createProxy(proxyOptions);
  const bodyLimit = options.bodyLimitBytes ?? PROXY_DEFAULTS.bodyLimitBytes;
  const maxHeaderSize = Math.max(
    16 * 1024,
    (options.headerLimitBytes ?? PROXY_DEFAULTS.headerLimitBytes) + NODE_HEADER_SLACK,
  );
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    // Only a target or header the Request constructor refuses gets here: Node parsed them already.
    handle(proxy, origin, bodyLimit, req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else res.writeHead(400, { 'content-type': 'application/json', connection: 'close' }).end(BAD_REQUEST);
    });
  };
  const server: Server = tls
    ? createHttpsServer(
        { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), maxHeaderSize },
        handler,
      )
    : createHttpServer({ maxHeaderSize }, handler);
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
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }).then(() => proxy.close());
      return closed;
    },
  };
}

/**
 * The body's bytes, read no further than one byte past `limit`: the proxy then sees it is too
 * large and refuses it, and the rest is never read (the connection closes after the answer).
 * Buffered here rather than handed over as a web stream: the proxy reads it whole anyway, and
 * the stream adapters cost more than the copy.
 */
function bodyUpTo(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  // Declared too large: nothing is read; the proxy refuses it by its content-length.
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.resolve(new Uint8Array());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData).off('end', done).off('error', reject);
      resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size > limit) {
        req.pause();
        done();
      }
    };
    req.on('data', onData).on('end', done).on('error', reject);
  });
}

async function handle(
  proxy: VendorProxy,
  origin: string,
  bodyLimit: number,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const target = req.url ?? '/';
  const method = req.method ?? 'GET';
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  }
  const sent = method !== 'GET' && method !== 'HEAD' ? await bodyUpTo(req, bodyLimit) : undefined;
  // Appended, not resolved against the origin: `//host/…` stays a path. A target that is not a
  // path (`*`, an absolute URL) becomes one that no route matches. The body goes beside the
  // Request, not into it: the proxy would only read it back out of a stream.
  const request = new Request(`${origin}${target.startsWith('/') ? '' : '/'}${target}`, {
    method,
    headers,
  });
  const response = await proxy.fetch(request, { target, ...(sent !== undefined && { body: sent }) });
  const body = Buffer.from(await response.arrayBuffer());
  res.statusCode = response.status;
  for (const [name, value] of response.headers) {
    if (!FRAMING.has(name)) res.appendHeader(name, value);
  }
  res.setHeader('content-length', body.byteLength);
  // A body the proxy refused to read (too large) is not drained: the connection ends instead.
  if (!req.complete) res.setHeader('connection', 'close');
  res.end(method === 'HEAD' ? undefined : body);
}
