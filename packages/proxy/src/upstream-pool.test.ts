import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { timedFetch } from './timed-fetch.ts';
import { createUpstreamPool, isBuffered } from './upstream-pool.ts';

it("sends a global Request's method, headers and body upstream (undici's fetch knows only its own Request class)", async () => {
  const seen: { method?: string; url?: string; auth?: string; body: string } = { body: '' };
  const server = createServer((req, res) => {
    seen.method = req.method;
    seen.url = req.url;
    seen.auth = req.headers.authorization;
    req.on('data', (chunk) => {
      seen.body += chunk;
    });
    req.on('end', () => res.end('{"ok":true}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pool = createUpstreamPool();
  try {
    const { port } = server.address() as AddressInfo;
    const response = await pool.fetch(
      new Request(`http://127.0.0.1:${port}/v1/charges?expand=x`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk_test_x', 'content-type': 'application/x-www-form-urlencoded' },
        body: 'amount=100&currency=usd',
      }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(seen).toEqual({
      method: 'POST',
      url: '/v1/charges?expand=x',
      auth: 'Bearer sk_test_x',
      body: 'amount=100&currency=usd',
    });
  } finally {
    await pool.close();
    server.close();
  }
});

it('decodes a compressed answer, keeps repeated headers, and stops at the signal', async () => {
  const server = createServer((req, res) => {
    if (req.url === '/slow') return; // never answers
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.setHeader('content-encoding', 'gzip');
    res.setHeader('content-type', 'application/json');
    res.end(gzipSync('{"id":"ch_1","object":"charge"}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pool = createUpstreamPool();
  try {
    const { port } = server.address() as AddressInfo;
    const response = await pool.fetch(`http://127.0.0.1:${port}/v1/charges/ch_1`);
    expect(await response.json()).toEqual({ id: 'ch_1', object: 'charge' });
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    const started = performance.now();
    await expect(
      pool.fetch(`http://127.0.0.1:${port}/slow`, { signal: AbortSignal.timeout(100) }),
    ).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(5_000);
  } finally {
    await pool.close();
    server.closeAllConnections();
    server.close();
  }
});

it('leaves an unknown content-encoding as it came (no lookup reaches the prototype), and refuses a body that inflates past the bound', async () => {
  const server = createServer((req, res) => {
    if (req.url === '/bomb') {
      res.setHeader('content-encoding', 'gzip');
      res.end(gzipSync(Buffer.alloc(65 * 1024 * 1024)));
      return;
    }
    res.setHeader('content-encoding', req.url === '/proto' ? '__proto__' : 'constructor');
    res.end('{"id":"ch_1"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pool = createUpstreamPool();
  try {
    const { port } = server.address() as AddressInfo;
    for (const path of ['/proto', '/ctor']) {
      const response = await pool.fetch(`http://127.0.0.1:${port}${path}`);
      expect(await response.text()).toBe('{"id":"ch_1"}');
      expect(response.headers.get('content-encoding')).not.toBeNull();
    }
    await expect(pool.fetch(`http://127.0.0.1:${port}/bomb`)).rejects.toThrow(/buffer|length|size/i);
  } finally {
    await pool.close();
    server.closeAllConnections();
    server.close();
  }
});

it('sends a body given as text (UTF-8), bytes or form params, and answers read in full, which timedFetch passes on as they are', async () => {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pool = createUpstreamPool();
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/charges`;
    const sent = [
      'description=café ☕',
      new TextEncoder().encode('amount=1'),
      new URLSearchParams({ a: 'b c' }),
    ];
    for (const body of sent) await pool.fetch(url, { method: 'POST', body });
    expect(bodies).toEqual(['description=café ☕', 'amount=1', 'a=b+c']);

    const answer = await pool.fetch(url, { method: 'POST', body: 'x=1' });
    expect(isBuffered(answer)).toBe(true);
    expect(isBuffered(new Response('{}'))).toBe(false);
    const timed = timedFetch(async () => answer, { vendor: 'stripe', timeoutMs: 1000, onDone: () => {} });
    expect(await timed(url)).toBe(answer);
  } finally {
    await pool.close();
    server.close();
  }
});
