/**
 * The Streamable HTTP handler in-process, over a stand-in gateway (a bare MCP server per session):
 * what it answers before any session exists, and the bounds on sessions it keeps. The gateway
 * itself over HTTP is in gateway-http.test.ts.
 */

import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { createGuard, type Guard, MemoryStore } from '@spendguard/core';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GatewaySession, McpGateway } from './gateway.ts';
import { createMcpHttpHandler, type McpHttpHandler } from './http-handler.ts';

let guard: Guard;
let token: string;
const handlers: McpHttpHandler[] = [];
/** Sessions the stand-in gateway opened, and whether each was closed. */
const opened: { id: string; closed: boolean }[] = [];

const gateway: McpGateway = {
  async connect(transport, session) {
    const server = new Server({ name: 'stand-in', version: '1' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [] }));
    const record = { id: session.sessionId ?? 'none', closed: false };
    opened.push(record);
    let done: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      done = resolve;
    });
    server.onclose = () => {
      record.closed = true;
      done();
    };
    await server.connect(transport);
    const handle: GatewaySession = { id: record.id, closed, close: () => server.close() };
    return handle;
  },
  close: async () => {},
};

beforeAll(async () => {
  guard = createGuard({ policies: { policies: { p: { stripe: { allow: [] } } } }, store: new MemoryStore() });
  token = (await guard.keys.issueRoot({ policy: 'p' })).token;
});
afterEach(async () => {
  await Promise.all(handlers.splice(0).map((h) => h.close()));
});

function handler(options: { maxSessions?: number; bodyLimitBytes?: number; idleTimeoutMs?: number } = {}) {
  const h = createMcpHttpHandler({ gateway, guard, ...options });
  handlers.push(h);
  return h;
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

function post(body: unknown, headers: Record<string, string> = {}): Request {
  return new Request('http://127.0.0.1:8787/mcp', {
    method: 'POST',
    headers: {
      host: '127.0.0.1:8787',
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('the Streamable HTTP handler', () => {
  it('answers loopback hosts only (DNS rebinding)', async () => {
    const h = handler();
    for (const host of ['evil.example:8787', '[::1].evil', 'localhost.evil.example', '127.0.0.1:80x'])
      expect([host, (await h.fetch(post(INITIALIZE, { host }))).status]).toEqual([host, 403]);
    expect((await h.fetch(post(INITIALIZE, { host: 'localhost:8787' }))).status).toBe(200);
  });

  it('opens a session only with an initialize request, and answers only its path', async () => {
    const h = handler();
    expect((await h.fetch(post({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }))).status).toBe(
      400,
    );
    expect((await h.fetch(post('{not json'))).status).toBe(400);
    const elsewhere = new Request('http://127.0.0.1:8787/other', { headers: { host: '127.0.0.1:8787' } });
    expect((await h.fetch(elsewhere)).status).toBe(404);
    expect(h.sessions).toBe(0);
  });

  it('refuses a body past its bound before reading on', async () => {
    const h = handler({ bodyLimitBytes: 1024 });
    const big = { ...INITIALIZE, params: { ...INITIALIZE.params, padding: 'x'.repeat(2048) } };
    expect((await h.fetch(post(big))).status).toBe(413);
  });

  it('keeps at most maxSessions open', async () => {
    const h = handler({ maxSessions: 1 });
    const first = await h.fetch(post(INITIALIZE));
    expect(first.status).toBe(200);
    expect(first.headers.get('mcp-session-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await h.fetch(post(INITIALIZE))).status).toBe(503);
    expect(h.sessions).toBe(1);
  });

  it('closes a session nobody uses, and then answers its id with 404', async () => {
    const h = handler({ idleTimeoutMs: 50 });
    const response = await h.fetch(post(INITIALIZE));
    const id = response.headers.get('mcp-session-id') as string;
    await response.body?.cancel();
    for (let i = 0; i < 100 && h.sessions > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.sessions).toBe(0);
    expect(opened.find((s) => s.id === id)?.closed).toBe(true);
    const later = await h.fetch(
      post({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }, { 'mcp-session-id': id }),
    );
    expect(later.status).toBe(404);
  });
});

describe('any request a stranger could send', () => {
  const UUID = '00000000-0000-4000-8000-000000000000';
  /** Mostly the way in, sometimes anything: so the property meets both sides of every check. */
  const usually = <T>(way: T, other: fc.Arbitrary<T>) =>
    fc.oneof({ arbitrary: fc.constant(way), weight: 4 }, { arbitrary: other, weight: 1 });
  const requestArb = fc.record({
    method: usually('POST', fc.constantFrom('GET', 'DELETE', 'PUT', 'OPTIONS')),
    path: usually('/mcp', fc.constantFrom('/mcp/', '/MCP', '/other', '/mcp/../mcp', '/%6Dcp', '/mcp?x=1')),
    host: usually(
      '127.0.0.1:8787',
      fc.oneof(
        fc.constantFrom(
          'localhost',
          '[::1]:8787',
          'evil.example',
          '127.0.0.1.evil.example',
          'localhost.evil:1',
          '[::1].evil',
          '',
        ),
        fc.string({ maxLength: 30 }),
      ),
    ),
    origin: usually<string | null>(
      null,
      fc.oneof(
        fc.constantFrom(
          'http://127.0.0.1:8787',
          'http://localhost',
          'https://evil.example',
          'null',
          'file:///etc',
          'http://[::1]',
          'http://localhost@evil.example',
        ),
        fc.string({ maxLength: 30 }),
      ),
    ),
    authorization: usually<string | null>(
      'Bearer TOKEN',
      fc.oneof(
        fc.constantFrom(
          null,
          'TOKEN',
          'bearer TOKEN',
          'Bearer TOKEN x',
          'Basic TOKEN',
          `Bearer sk_sg_${'0'.repeat(64)}`,
        ),
        fc.string({ maxLength: 40 }).map((text) => `Bearer ${text}`),
        fc.string({ maxLength: 40 }),
      ),
    ),
    sessionId: usually<string | null>(null, fc.oneof(fc.constant(UUID), fc.string({ maxLength: 40 }))),
    body: usually(
      JSON.stringify(INITIALIZE),
      fc.oneof(
        fc.constant(JSON.stringify({ ...INITIALIZE, method: 'tools/list' })),
        fc.constant('{"__proto__":{"polluted":1},"jsonrpc":"2.0","id":1,"method":"initialize"}'),
        fc.constant('{not json'),
        fc.json({ maxDepth: 3 }),
        fc.string({ maxLength: 60 }),
      ),
    ),
  });

  type StrangersRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

  /** The request, or undefined when fetch itself would not build it (a header no client could send). */
  function build(r: StrangersRequest): Request | undefined {
    const headers: Record<string, string> = {
      host: r.host,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    if (r.origin !== null) headers.origin = r.origin;
    if (r.authorization !== null)
      headers.authorization = r.authorization.startsWith('TOKEN')
        ? token
        : r.authorization.replace('TOKEN', token);
    if (r.sessionId !== null) headers['mcp-session-id'] = r.sessionId;
    try {
      return new Request(`http://127.0.0.1:8787${r.path}`, {
        method: r.method,
        headers,
        ...(r.method === 'GET' || r.method === 'OPTIONS' ? {} : { body: r.body }),
      });
    } catch {
      return undefined;
    }
  }

  it('is answered, never with a crash or the key it carried; only an authorized loopback initialize opens a session', async () => {
    const h = handler({ maxSessions: 1000 });
    const openedBefore = opened.length;
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const request = build(r);
        fc.pre(request !== undefined);
        const sessionsBefore = h.sessions;
        const response = await (h.fetch(request as Request) as Promise<Response>);
        const text = await response.text();
        expect([200, 202, 400, 401, 403, 404, 405, 406, 413, 415]).toContain(response.status);
        expect(text).not.toContain(token);
        if (h.sessions > sessionsBefore) {
          expect(response.status).toBe(200);
          expect(new URL((request as Request).url).pathname).toBe('/mcp');
          expect(r.method).toBe('POST');
          expect(r.sessionId).toBeNull();
          expect(r.authorization === 'Bearer TOKEN' || r.authorization === 'bearer TOKEN').toBe(true);
          expect(['127.0.0.1', 'localhost', '[::1]']).toContain(r.host.replace(/:\d+$/, '').toLowerCase());
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 300 },
    );
    // The property saw the way in too, not only the ways it is refused.
    expect(opened.length).toBeGreaterThan(openedBefore);
  });
});
