/**
 * The Streamable HTTP handler in-process, over a stand-in gateway (a bare MCP server per session):
 * what it answers before any session exists, and the bounds on sessions it keeps. The gateway
 * itself over HTTP is in gateway-http.test.ts.
 */

import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { createGuard, type Guard, MemoryStore } from '@spendguard/core';
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
    expect((await h.fetch(post(INITIALIZE, { host: 'evil.example:8787' }))).status).toBe(403);
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
