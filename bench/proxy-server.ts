/**
 * One server process of the proxy bench (proxy.ts), so the load generator, the proxy under test
 * and the upstream each have their own event loop, as they would in production. Started with
 * its config as a JSON argument; it answers over the IPC channel:
 *
 * - sends `{ type: 'listening', url }` once it accepts connections;
 * - on `'count'` (upstream only) sends `{ type: 'count', calls }`: requests answered so far;
 * - on `'exit'` stops accepting, lets requests in flight finish, closes and exits.
 *
 * Roles: `upstream` answers every request with one fixed Stripe charge; `passthrough` forwards
 * each request through an undici keep-alive pool, with no checks (the floor a proxy can reach);
 * `spendguard` is `serveProxy` over SQLite or Redis, or over the guard-only store (the guard's own
 * work and the proxy's, no store to speak of: it issues the agent's key itself and sends its token
 * with `listening`).
 */
import { createServer, type IncomingHttpHeaders, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { createGuard, type PolicyDocument, SqliteStore, type Store } from '@spendguard/core';
import { RedisStore } from '@spendguard/redis';
import { type Dispatcher, Pool } from 'undici';
import { serveProxy } from '../packages/proxy/src/index.ts';
import { GuardOnlyStore } from './guard-only-store.ts';

export type ServerConfig =
  | { role: 'upstream'; secret: string }
  | { role: 'passthrough'; upstream: string }
  | {
      role: 'spendguard';
      upstream: string;
      policies: PolicyDocument;
      store:
        | { kind: 'sqlite'; file: string }
        | { kind: 'redis'; url: string; prefix: string }
        | { kind: 'guard-only' };
    };

export type ServerMessage =
  | { type: 'listening'; url: string; token?: string }
  | { type: 'count'; calls: number };

const config = JSON.parse(process.argv[2] as string) as ServerConfig;

function send(message: ServerMessage): void {
  process.send?.(message);
}

/** Starts the role's server; returns its URL and how to close it. */
async function start(): Promise<{ url: string; token?: string; close: () => Promise<void> }> {
  switch (config.role) {
    case 'upstream':
      return listen(answerAsUpstream(config.secret));
    case 'passthrough': {
      const pool = new Pool(config.upstream);
      const server = await listen(forwardThrough(pool));
      return {
        url: server.url,
        close: async () => {
          await server.close();
          await pool.close();
        },
      };
    }
    case 'spendguard': {
      const spec = config.store;
      const store: Store =
        spec.kind === 'sqlite'
          ? new SqliteStore({ file: spec.file })
          : spec.kind === 'redis'
            ? new RedisStore({ url: spec.url, prefix: spec.prefix })
            : new GuardOnlyStore();
      const guard = createGuard({ policies: config.policies, store });
      // The guard-only store lives in this process: the agent's key can only be issued here.
      const token =
        spec.kind === 'guard-only'
          ? (await guard.keys.issueRoot({ policy: 'billing', name: 'proxy-bench' })).token
          : undefined;
      const server = await serveProxy({
        guard,
        upstreams: { stripe: config.upstream },
        host: '127.0.0.1',
        port: 0,
      });
      return {
        url: server.url,
        ...(token !== undefined && { token }),
        close: async () => {
          await server.close();
          await guard.close();
        },
      };
    }
  }
}

async function listen(listener: RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

let upstreamCalls = 0;

/** A Stripe that does no work: reads the body, checks the secret, answers one fixed charge. */
function answerAsUpstream(secret: string): RequestListener {
  const unauthorized = JSON.stringify({
    error: { type: 'invalid_request_error', message: 'Invalid API Key provided' },
  });
  return (req, res) => {
    req.resume();
    req.on('end', () => {
      upstreamCalls++;
      // The real secret must arrive whichever way the call came: the proxy swaps the vault key for it.
      if (req.headers.authorization !== `Bearer ${secret}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(unauthorized);
        return;
      }
      const charge = JSON.stringify({
        id: `ch_bench_${upstreamCalls}`,
        object: 'charge',
        amount: 500,
        amount_captured: 500,
        captured: true,
        currency: 'usd',
        customer: 'cus_bench',
        paid: true,
        status: 'succeeded',
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(charge);
    });
  };
}

/** Hop-by-hop headers: about this connection, not the request, so never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'host', 'transfer-encoding']);

function forwardable(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

/** The floor: every request forwarded as it came over a keep-alive pool, the answer streamed back. */
function forwardThrough(pool: Pool): RequestListener {
  return async (req, res) => {
    try {
      const answer = await pool.request({
        method: req.method as Dispatcher.HttpMethod,
        path: req.url ?? '/',
        headers: forwardable(req.headers),
        body: req,
      });
      res.writeHead(answer.statusCode, forwardable(answer.headers));
      await pipeline(answer.body, res);
    } catch {
      res.destroy(); // the bench counts it as an error
    }
  };
}

const server = await start();
send({ type: 'listening', url: server.url, ...(server.token !== undefined && { token: server.token }) });
process.on('message', async (message) => {
  if (message === 'count') send({ type: 'count', calls: upstreamCalls });
  if (message === 'exit') {
    await server.close();
    process.disconnect();
  }
});
