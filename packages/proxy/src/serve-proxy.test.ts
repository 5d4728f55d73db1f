import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { serveProxy } from './serve-proxy.ts';
import { startWorld, type World } from './test-world.ts';

// The node:http shim: what only a real socket shows (raw request targets, bodies too large to
// read, TLS). Vendor behaviour is in proxy.test.ts and the SDK tests.

let world: World;
let token: string;

beforeAll(async () => {
  world = await startWorld({ proxy: { bodyLimitBytes: 64 * 1024 } });
  token = world.rootToken;
});
afterAll(() => world.close());
beforeEach(() => world.stripe.reset());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with the target written as given (fetch would resolve dot segments first). */
function raw(
  target: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string; base?: string } = {},
): Promise<Answer> {
  const base = new URL(options.base ?? world.proxy.url);
  const send = base.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        host: base.hostname,
        port: base.port,
        path: target,
        method: options.method ?? 'POST',
        headers: { authorization: `Bearer ${token}`, ...options.headers },
        rejectUnauthorized: false,
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end(options.body);
  });
}

describe('serveProxy', () => {
  it('listens on 127.0.0.1 and reports the port it got', () => {
    expect(world.proxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(world.proxy.url).not.toMatch(/:0$/);
  });

  it('refuses dot segments and backslashes as the client sent them', async () => {
    for (const target of ['/stripe/v1/payouts/../charges', '/stripe/v1/./charges', '/stripe/v1\\charges']) {
      const answer = await raw(target, { body: 'amount=100&currency=usd&source=tok_visa' });
      expect(answer.status, target).toBe(400);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'spendguard_request_invalid' } });
    }
    // Not read as a URL with another host: a path no route matches.
    const hostLike = await raw('//evil/stripe/v1/charges', { body: 'amount=100' });
    expect(hostLike.status).toBe(404);
    expect(world.stripe.ledger.requests).toHaveLength(0);
  });

  it('answers a body over the limit with 413 and closes the connection rather than read it all', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 'a');
    const declared = await raw('/stripe/v1/charges', { body: big });
    expect(declared.status).toBe(413);
    expect(declared.headers.connection).toBe('close');
    // Chunked, with no content-length to go by.
    const chunked = await raw('/stripe/v1/charges', {
      body: big,
      headers: { 'transfer-encoding': 'chunked' },
    });
    expect(chunked.status).toBe(413);
    expect(world.stripe.ledger.requests).toHaveLength(0);
  });

  it('passes an allowed call through and writes the vendor answer with its framing', async () => {
    const answer = await raw('/stripe/v1/charges', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'amount=100&currency=usd&source=tok_visa',
    });
    expect(answer.status).toBe(200);
    expect(answer.headers['spendguard-decision']).toBe('executed');
    expect(answer.headers.connection).toBe('keep-alive');
    expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
    expect(JSON.parse(answer.body)).toMatchObject({ object: 'charge', amount: 100 });
    const head = await raw('/healthz', { method: 'HEAD' });
    expect(head.status).toBe(405);
  });

  it('serves HTTPS with a certificate and key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spendguard-proxy-tls-'));
    try {
      const certFile = join(dir, 'cert.pem');
      const keyFile = join(dir, 'key.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-keyout',
          keyFile,
          '-out',
          certFile,
        ],
        { stdio: 'ignore' },
      );
      const tls = await serveProxy({
        guard: world.guard,
        upstreams: world.upstreams,
        tls: { certFile, keyFile },
      });
      try {
        expect(tls.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        const health = await raw('/healthz', { method: 'GET', base: tls.url });
        expect([health.status, JSON.parse(health.body)]).toEqual([200, { status: 'ok' }]);
      } finally {
        await tls.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
