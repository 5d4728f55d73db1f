import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ServedAdmin, serveAdmin } from '../serve-admin.ts';
import { ADMIN_TOKEN, AdminWorld, TOKEN_ENV } from '../test-world.ts';

let world: AdminWorld;
let served: ServedAdmin;
beforeEach(async () => {
  world = new AdminWorld();
  served = await serveAdmin({ guard: world.guard, token: { env: TOKEN_ENV } });
});
afterEach(async () => {
  await served.close();
  await world.close();
});

const signIn = (token: string, origin = served.url, base = served.url) =>
  fetch(`${base}/console/sign-in`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: JSON.stringify({ token, name: 'Bob' }),
  });

async function session() {
  const response = await signIn(ADMIN_TOKEN);
  expect(response.status).toBe(200);
  const cookie = (response.headers.get('set-cookie') as string).split(';')[0] as string;
  const { csrf } = (await (
    await fetch(`${served.url}/console/api/session`, { headers: { cookie } })
  ).json()) as {
    csrf: string;
  };
  return { cookie, csrf };
}

describe('the console without a session', () => {
  it('serves the sign-in page and its assets, and nothing else', async () => {
    const home = await fetch(`${served.url}/`);
    expect(home.status).toBe(200);
    const html = await home.text();
    expect(html).toContain('id="sign-in"');
    expect(html).not.toContain('app.js');
    expect(home.headers.get('content-security-policy')).toContain("script-src 'self'");
    for (const open of ['/console/assets/console.css', '/console/assets/sign-in.js']) {
      expect((await fetch(`${served.url}${open}`)).status).toBe(200);
    }
    for (const closed of [
      '/console/assets/app.js',
      '/console/assets/uPlot.iife.min.js',
      '/console/api/session',
      '/console/api/v1/keys',
      '/console/api/v1/audit/stream',
      '/console/anything',
    ]) {
      const response = await fetch(`${served.url}${closed}`);
      expect(response.status, closed).toBe(401);
      expect(await response.text()).not.toContain('loaders');
    }
    const post = await fetch(`${served.url}/console/api/v1/keys/key_x/revoke`, {
      method: 'POST',
      headers: { origin: served.url },
    });
    expect(post.status).toBe(401);
  });

  it('refuses a wrong token at sign-in with a bare 401, counted like the API, and a cross-site sign-in', async () => {
    for (const wrong of ['', 'nope', `${ADMIN_TOKEN}x`, `${ADMIN_TOKEN} x`]) {
      const response = await signIn(wrong);
      expect(response.status).toBe(401);
      expect(response.headers.get('set-cookie')).toBeNull();
      expect(await response.json()).toEqual({ error: { code: 'unauthorized', message: 'unauthorized' } });
    }
    expect((await signIn(ADMIN_TOKEN, 'https://evil.example')).status).toBe(403);
    const metrics = await (await fetch(`${served.url}/metrics`)).text();
    expect(metrics).toContain('spendguard_admin_unauthorized_total 4');
  });
});

describe('the console with a session', () => {
  it('sets an HttpOnly, SameSite=Strict cookie (Secure and __Host- over TLS) and never returns the admin token', async () => {
    const response = await signIn(ADMIN_TOKEN);
    const cookie = response.headers.get('set-cookie') as string;
    expect(cookie).toMatch(/^sg_console=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(await response.text()).not.toContain(ADMIN_TOKEN);
    const tls = await world.api.fetch(
      new Request('https://admin.test/console/sign-in', {
        method: 'POST',
        headers: { origin: 'https://admin.test', 'content-type': 'application/json' },
        body: JSON.stringify({ token: ADMIN_TOKEN, name: 'Bob' }),
      }),
    );
    expect(tls.headers.get('set-cookie')).toMatch(
      /^__Host-sg_console=.*; HttpOnly; SameSite=Strict; .*; Secure$/,
    );
  });

  it('needs our Origin and the session CSRF token on every state change; records who', async () => {
    const { cookie, csrf } = await session();
    const root = await world.guard.keys.issueRoot({ policy: 'billing' });
    const unknown = await world.payUnknown(root.token, 1000);
    const pending = (await world.guard.pending())[0];
    const post = (path: string, headers: Record<string, string>, body = '{}') =>
      fetch(`${served.url}/console/api${path}`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body,
      });
    const path = `/v1/pending/${pending?.checkpointId}/reconcile`;
    const body = JSON.stringify({ outcome: 'failed', by: 'someone else' });
    expect(unknown.decision).toBe('failed');
    expect((await post(path, { 'x-csrf-token': csrf }, body)).status).toBe(403); // no Origin
    expect((await post(path, { origin: 'http://evil.example', 'x-csrf-token': csrf }, body)).status).toBe(
      403,
    );
    expect((await post(path, { origin: served.url }, body)).status).toBe(403);
    expect((await post(path, { origin: served.url, 'x-csrf-token': `${csrf}x` }, body)).status).toBe(403);
    expect(
      (await post(path, { origin: served.url, 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' }, body))
        .status,
    ).toBe(403);
    expect(await world.guard.pending()).toHaveLength(1);
    const ok = await post(path, { origin: served.url, 'x-csrf-token': csrf }, body);
    expect(ok.status).toBe(200);
    const [row] = await world.guard.audit.list({ code: 'reconciled' });
    expect(row?.message).toBe('reconciled as failed by console: Bob');
  });

  it('offers only allow-listed routes: no key issue, no export; derive returns only the new token', async () => {
    const { cookie, csrf } = await session();
    const headers = { cookie, origin: served.url, 'x-csrf-token': csrf, 'content-type': 'application/json' };
    const issue = await fetch(`${served.url}/console/api/v1/keys`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ policy: 'billing' }),
    });
    expect(issue.status).toBe(404);
    expect(await world.guard.keys.list()).toEqual([]);
    expect((await fetch(`${served.url}/console/api/v1/audit/export`, { headers })).status).toBe(404);
    const root = await world.guard.keys.issueRoot({ policy: 'billing' });
    await world.pay(root.token, 100);
    for (const path of [
      '/v1/keys',
      '/v1/spend',
      '/v1/audit',
      '/v1/approvals',
      '/v1/pending',
      '/v1/spend/series',
    ]) {
      const response = await fetch(`${served.url}/console/api${path}`, { headers: { cookie } });
      expect(response.status, path).toBe(200);
      const text = await response.text();
      expect(text).not.toContain('sk_sg_');
      expect(text).not.toContain(ADMIN_TOKEN);
    }
  });
});

describe('GET /v1/audit/stream and /v1/spend/series (Bearer token, for scripts too)', () => {
  /** The audit stream with this query; `until` reads it until a text arrives (3 s at most) and returns all read. */
  async function openStream(query: string) {
    const controller = new AbortController();
    const response = await fetch(`${served.url}/v1/audit/stream?${query}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: controller.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream())
      .getReader();
    let text = '';
    const until = async (needle: string) => {
      const deadline = Date.now() + 3000;
      while (!text.includes(needle) && Date.now() < deadline) text += (await reader.read()).value ?? '';
      expect(text).toContain(needle);
      return text;
    };
    return { response, until, abort: () => controller.abort() };
  }

  it('streams the backlog, then new rows and revocations as server-sent events', async () => {
    const root = await world.guard.keys.issueRoot({ policy: 'billing' });
    await world.pay(root.token, 100, 'cus_a');
    const { response, until, abort } = await openStream('backlog=10');
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    await until('id: 1\nevent: row');
    await world.pay(root.token, 200, 'cus_b');
    await until('id: 2\nevent: row');
    await fetch(`${served.url}/v1/keys/${root.id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(await until('event: admin\ndata: {"type":"key_revoked"')).toContain('"by":"admin api"');
    abort();
    const series = await fetch(`${served.url}/v1/spend/series?window=day`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const body = (await series.json()) as { times: number[]; series: { rootKeyId: string; usd: number[] }[] };
    expect(body.times).toHaveLength(96);
    expect(body.series).toEqual([{ rootKeyId: root.id, usd: expect.any(Array) }]);
    expect(body.series[0]?.usd.at(-1)).toBe(3);
  });

  it("filters by trace: one trace's rows (and its ';' parts), in the backlog and live; no admin events", async () => {
    const root = await world.guard.keys.issueRoot({ policy: 'billing' });
    const pay = (cents: number, traceId: string) =>
      world.guard.execute({ ...world.charge(root.token, cents, `cus_${cents}`), traceId }, async () => ({
        id: `ch_${cents}`,
      }));
    await pay(300, 'trace_abc;group=g1');
    await pay(400, 'trace_abcd');
    const { until, abort } = await openStream('trace=trace_abc');
    await until('"traceId":"trace_abc;group=g1"');
    await pay(500, 'trace_abcd');
    await pay(600, 'trace_abc');
    await fetch(`${served.url}/v1/keys/${root.id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const text = await until('"traceId":"trace_abc"');
    abort();
    const traces = [...text.matchAll(/"traceId":"([^"]*)"/g)].map((m) => m[1]);
    expect(traces).toEqual(['trace_abc;group=g1', 'trace_abc']);
    expect(text).not.toContain('event: admin');
  });
});
