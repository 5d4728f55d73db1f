import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { type Guard, readBoundedBody, TOKEN_PREFIX } from '@spendguard/core';
import type { GatewaySession, McpGateway } from './gateway.ts';

export interface McpHttpOptions {
  gateway: McpGateway;
  /** Authenticates the Bearer vault key a session is opened with. */
  guard: Guard;
  /** The MCP endpoint's path. Default: `/mcp`. */
  path?: string;
  /** The most sessions open at once; a new one beyond it is refused (503). Default: 64. */
  maxSessions?: number;
  /** The largest request body accepted, in bytes. Default: 1 MiB (1,048,576). */
  bodyLimitBytes?: number;
  /**
   * A session nobody has sent a request on for this long is closed (its upstream with it), so
   * clients that vanish without closing theirs do not hold sessions forever. Default: 1,800,000 ms.
   */
  idleTimeoutMs?: number;
}

/** The MCP gateway over Streamable HTTP, as a `fetch(request) → Response` handler. */
export interface McpHttpHandler {
  fetch(request: Request): Promise<Response>;
  /** How many sessions are open. */
  readonly sessions: number;
  /** Closes every session. */
  close(): Promise<void>;
}

const VAULT_TOKEN = new RegExp(`^${TOKEN_PREFIX}[A-Za-z0-9_-]{1,250}$`);

interface OpenSession {
  transport: WebStandardStreamableHTTPServerTransport;
  session: GatewaySession;
  /** The SHA-256 of the vault key the session was opened with: every request must carry the same. */
  keyHash: Buffer;
  /** When a request last came for it (`performance.now()`). */
  lastSeen: number;
}

/**
 * Streamable HTTP downstream: each client holds a vault key and sends it as a Bearer token on
 * every request; a session is bound to the key it was opened with. Only loopback Host and Origin
 * headers are answered (DNS rebinding), bodies are bounded, and each session is one gateway
 * session with its own upstream connection and run key.
 */
export function createMcpHttpHandler(options: McpHttpOptions): McpHttpHandler {
  const path = options.path ?? '/mcp';
  const maxSessions = options.maxSessions ?? 64;
  const bodyLimit = options.bodyLimitBytes ?? 1024 * 1024;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30 * 60_000;
  const open = new Map<string, OpenSession>();
  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const entry of open.values()) {
        if (now - entry.lastSeen > idleTimeoutMs) void entry.session.close();
      }
    },
    Math.max(10, Math.min(idleTimeoutMs / 2, 60_000)),
  );
  sweep.unref();

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== path) return refusal(404, `no such route: the MCP endpoint is ${path}`);
    if (!isLoopback(request.headers.get('host')) || !isLoopbackOrigin(request.headers.get('origin'))) {
      return refusal(403, 'only loopback clients are answered');
    }
    const key = bearerVaultKey(request.headers.get('authorization'));
    if (key === undefined) {
      return refusal(401, 'send your spendguard vault key (sk_sg_…) as a Bearer token', {
        'www-authenticate': 'Bearer realm="spendguard"',
      });
    }
    const keyHash = sha256(key);
    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId !== null) {
      const entry = open.get(sessionId);
      if (!entry) return rpcError(404, -32001, 'Session not found');
      if (!timingSafeEqual(entry.keyHash, keyHash))
        return refusal(403, 'this session was opened with another vault key');
      return entry.transport.handleRequest(request);
    }
    if (request.method !== 'POST') return rpcError(400, -32000, 'Bad Request: no valid session ID provided');
    const body = await boundedBody(request, bodyLimit);
    if (body === undefined) return refusal(413, `the request body is larger than ${bodyLimit} bytes`);
    let message: unknown;
    try {
      message = JSON.parse(body);
    } catch {
      return rpcError(400, -32700, 'Parse error');
    }
    if (!isInitializeRequest(message))
      return rpcError(400, -32000, 'Bad Request: no valid session ID provided');
    const auth = await options.guard.keys.authenticate(key);
    if ('code' in auth) {
      return refusal(401, `the vault key cannot act: ${auth.message}`, {
        'www-authenticate': 'Bearer realm="spendguard", error="invalid_token"',
      });
    }
    if (open.size >= maxSessions)
      return refusal(503, `too many open sessions (${maxSessions}); close one first`);
    const id = randomUUID();
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      maxRequestBodySize: bodyLimit,
      onsessionclosed: () => {
        void open.get(id)?.session.close();
      },
    });
    const session = await options.gateway.connect(transport, { key, sessionId: id });
    open.set(id, { transport, session, keyHash, lastSeen: performance.now() });
    void session.closed.then(() => open.delete(id));
    return transport.handleRequest(request, { parsedBody: message });
  }

  return {
    async fetch(request) {
      try {
        return await handle(request);
      } catch {
        return refusal(500, 'the gateway could not handle this request');
      }
    },
    get sessions() {
      return open.size;
    },
    async close() {
      await Promise.all(
        [...open.values()].map((entry) => entry.session.close().then(() => entry.session.closed)),
      );
    },
  };
}

function bearerVaultKey(authorization: string | null): string | undefined {
  if (authorization === null || !/^Bearer /i.test(authorization)) return undefined;
  const token = authorization.slice(7).trim();
  return VAULT_TOKEN.test(token) ? token : undefined;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A loopback name, alone or with a port: nothing may follow it (`[::1].evil` is not loopback). */
const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/i;

function isLoopback(host: string | null): boolean {
  return host !== null && LOOPBACK_HOST.test(host);
}

function isLoopbackOrigin(origin: string | null): boolean {
  if (origin === null) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopback(url.host);
  } catch {
    return false;
  }
}

async function boundedBody(request: Request, limit: number): Promise<string | undefined> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > limit) return undefined;
  const bytes = await readBoundedBody(request.body, limit);
  return bytes && Buffer.from(bytes).toString('utf8');
}

function refusal(status: number, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error: { code: 'spendguard_refused', message } }, { status, headers });
}

function rpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: '2.0', error: { code, message }, id: null }, { status });
}
