import { expect, it } from 'vitest';
import { jsonResponse } from './engine.ts';
import { listenHttp } from './http-server.ts';

it('listens on 127.0.0.1 and a free port, and answers', async () => {
  const server = await listenHttp(async (request) => ({
    type: 'respond',
    response: jsonResponse(201, { path: request.path, body: request.body, q: request.query.get('q') }),
    delayMs: 0,
  }));
  try {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const response = await fetch(`${server.url}/x?q=1`, { method: 'POST', body: 'hello' });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ path: '/x', body: 'hello', q: '1' });
  } finally {
    await server.close();
  }
});

it('closes promptly while an answer is held back, and twice is fine', async () => {
  const server = await listenHttp(async () => ({
    type: 'respond',
    response: jsonResponse(200, {}),
    delayMs: 60_000,
  }));
  const pending = fetch(server.url).catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await Promise.all([server.close(), server.close()]);
  expect(Date.now() - started).toBeLessThan(1000);
  expect(await pending).toBeInstanceOf(TypeError);
});
