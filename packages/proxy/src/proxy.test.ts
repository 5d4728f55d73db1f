import { createServer } from 'node:net';
import { createGuard, type Guard, MemoryStore } from '@spendguard/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createProxy, type Proxy as VendorProxy } from './proxy.ts';
import { POLICIES, SECRETS } from './test-world.ts';

/** What reached the (fake) vendor, and how it answers: the proxy's `fetch` option. */
interface Upstream {
  requests: { method: string; url: URL; headers: Headers; body: string }[];
  answer: (request: Request) => Response | Promise<Response>;
}

const ENVS = ['SPENDGUARD_PROXY_TEST_STRIPE', 'SPENDGUARD_PROXY_TEST_TWILIO', 'SPENDGUARD_PROXY_TEST_RESEND'];
/** A body with the vendor's own spacing and key order: it must reach the client byte for byte. */
const CHARGE_BODY = '{\n  "id": "ch_1",\n  "object": "charge",\n  "amount": 500,  "currency": "usd"\n}\n';

let guard: Guard;
let token: string;
let upstream: Upstream;
let logs: string[];
let proxy: VendorProxy;

beforeAll(() => {
  process.env[ENVS[0] as string] = SECRETS.stripe;
  process.env[ENVS[1] as string] = SECRETS.twilio;
  process.env[ENVS[2] as string] = SECRETS.resend;
});
afterAll(() => {
  for (const name of ENVS) delete process.env[name];
});
beforeEach(async () => {
  guard = createGuard({ policies: POLICIES, store: new MemoryStore() });
  token = (await guard.keys.issueRoot({ policy: 'billing-agent' })).token;
  upstream = {
    requests: [],
    answer: () =>
      new Response(CHARGE_BODY, {
        headers: { 'content-type': 'application/json', 'request-id': 'req_1', 'x-internal': 'no' },
      }),
  };
  logs = [];
  proxy = makeProxy();
});

function makeProxy(options: Partial<Parameters<typeof createProxy>[0]> = {}): VendorProxy {
  return createProxy({
    guard,
    upstreams: { stripe: 'http://stripe.test', twilio: 'http://twilio.test', resend: 'http://resend.test' },
    logger: (line) => logs.push(line),
    fetch: async (input, init) => {
      const request = new Request(input, init);
      upstream.requests.push({
        method: request.method,
        url: new URL(request.url),
        headers: request.headers,
        body: await request.clone().text(),
      });
      return upstream.answer(request);
    },
    ...options,
  });
}

function post(path: string, body: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://proxy.test${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/x-www-form-urlencoded',
      ...headers,
    },
    body,
  });
}

const CHARGE = 'amount=500&currency=usd&source=tok_visa';

describe('createProxy: vendor requests', () => {
  it('sends the call once with the real secret and our idempotency key, and passes the answer byte for byte', async () => {
    const response = await proxy.fetch(
      post('/stripe/v1/charges?expand[]=balance_transaction', CHARGE, {
        'stripe-version': '2025-06-30.basil',
        'idempotency-key': 'stripe-node-retry-1',
        connection: 'keep-alive, x-hop',
        'x-hop': 'connection-scoped',
      }),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('spendguard-decision')).toBe('executed');
    expect(response.headers.get('request-id')).toBe('req_1');
    expect(await response.text()).toBe(CHARGE_BODY);

    const [sent] = upstream.requests;
    expect(sent?.url.href).toBe('http://stripe.test/v1/charges?expand[]=balance_transaction');
    expect(sent?.headers.get('authorization')).toBe(`Bearer ${SECRETS.stripe}`);
    expect(sent?.headers.get('idempotency-key')).toMatch(/^sg_/);
    expect(sent?.headers.get('stripe-version')).toBe('2025-06-30.basil');
    expect(sent?.headers.get('x-hop')).toBeNull();
    expect(sent?.headers.get('host')).toBeNull();
    expect(sent?.body).toBe(CHARGE);
  });

  it('answers a replay with the stored answer and spendguard-decision: replayed, without a call', async () => {
    await proxy.fetch(post('/stripe/v1/charges', CHARGE, { 'idempotency-key': 'sdk-key-1' }));
    const replay = await proxy.fetch(post('/stripe/v1/charges', CHARGE, { 'idempotency-key': 'sdk-key-2' }));
    expect(replay.status).toBe(200);
    expect(replay.headers.get('spendguard-decision')).toBe('replayed');
    expect(replay.headers.get('request-id')).toBe('req_1');
    expect(replay.headers.get('x-internal')).toBeNull(); // only the headers that matter are stored
    expect(await replay.text()).toBe(CHARGE_BODY);
    expect(upstream.requests).toHaveLength(1);
  });

  it('serves Stripe at /stripe/… and at its own /v1/…; Twilio and Resend under their prefixes', async () => {
    await proxy.fetch(post('/v1/customers', 'email=a%40example.com'));
    const basic = `Basic ${Buffer.from(`AC123:${token}`).toString('base64')}`;
    upstream.answer = () => Response.json({ sid: 'SM1', price: null }, { status: 201 });
    const sms = await proxy.fetch(
      post(
        '/twilio/2010-04-01/Accounts/AC123/Messages.json',
        'To=%2B15551230001&From=%2B15550000000&Body=hi',
        {
          authorization: basic,
        },
      ),
    );
    expect(sms.status).toBe(201);
    upstream.answer = () => Response.json({ id: 'em_1' });
    const email = await proxy.fetch(
      post('/resend/emails', JSON.stringify({ from: 'a@example.com', to: 'b@example.com', subject: 's' }), {
        'content-type': 'application/json',
      }),
    );
    expect(email.status).toBe(200);
    expect(upstream.requests.map((r) => r.url.href)).toEqual([
      'http://stripe.test/v1/customers',
      'http://twilio.test/2010-04-01/Accounts/AC123/Messages.json',
      'http://resend.test/emails',
    ]);
    // Twilio's Basic pair keeps the Account SID, with the real token instead of the vault key.
    expect(upstream.requests[1]?.headers.get('authorization')).toBe(
      `Basic ${Buffer.from(`AC123:${SECRETS.twilio}`).toString('base64')}`,
    );
    expect(upstream.requests[2]?.headers.get('authorization')).toBe(`Bearer ${SECRETS.resend}`);
  });

  it('records traceparent (or x-request-id) on the audit row and passes both upstream', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await proxy.fetch(post('/stripe/v1/charges', CHARGE, { traceparent, 'x-request-id': 'agent-req-1' }));
    await proxy.fetch(post('/stripe/v1/customers', 'name=Ada', { 'x-request-id': 'agent-req-2' }));
    // A request id that is the vault key, encoded, is passed on but not recorded.
    const encoded = Buffer.from(token).toString('base64').replaceAll(/[+/=]/g, '');
    await proxy.fetch(post('/stripe/v1/customers', 'name=Bob', { 'x-request-id': encoded }));
    const rows = await guard.audit.list();
    expect(rows.map((r) => r.traceId)).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736', 'agent-req-2', null]);
    expect(upstream.requests[0]?.headers.get('traceparent')).toBe(traceparent);
    expect(upstream.requests[0]?.headers.get('x-request-id')).toBe('agent-req-1');
    expect(JSON.parse(logs[0] as string)).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
  });

  it("uses a client's Idempotency-Key as the business key only for vendors the operator opted in", async () => {
    const optedIn = makeProxy({ clientIdempotencyKey: ['stripe'] });
    const first = await optedIn.fetch(post('/stripe/v1/charges', CHARGE, { 'idempotency-key': 'order-42' }));
    expect(first.headers.get('spendguard-decision')).toBe('executed');
    const other = await optedIn.fetch(
      post('/stripe/v1/charges', 'amount=700&currency=usd&source=tok_visa', {
        'idempotency-key': 'order-42',
      }),
    );
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: { code: 'spendguard_idempotency_mismatch' } });
    const garbled = await optedIn.fetch(
      post('/stripe/v1/charges', CHARGE, { 'idempotency-key': 'x'.repeat(256) }),
    );
    expect(garbled.status).toBe(400);
    expect(upstream.requests).toHaveLength(1);
    expect((await guard.audit.list())[0]?.idempotencyKey).toBe('order-42');

    // Not opted in: the SDK's random keys are ignored; the content is the key.
    await proxy.fetch(post('/stripe/v1/customers', 'name=Ada', { 'idempotency-key': 'stripe-node-retry-a' }));
    const again = await proxy.fetch(
      post('/stripe/v1/customers', 'name=Ada', { 'idempotency-key': 'stripe-node-retry-b' }),
    );
    expect(again.headers.get('spendguard-decision')).toBe('replayed');
    expect(upstream.requests).toHaveLength(2);
  });
});

describe('createProxy: refusals before the guard', () => {
  const refusals: [string, () => Request, number, string][] = [
    ['an unknown vendor prefix', () => post('/paypal/v1/payments', CHARGE), 404, 'route_unknown'],
    [
      'a bad method',
      () => new Request('http://proxy.test/stripe/v1/charges', { method: 'OPTIONS' }),
      405,
      'method_not_allowed',
    ],
    ['an encoded slash', () => post('/stripe/v1/charges%2F..%2Fpayouts', CHARGE), 400, 'request_invalid'],
    ['an empty segment', () => post('/stripe/v1//charges', CHARGE), 400, 'request_invalid'],
    ['a trailing slash', () => post('/stripe/v1/charges/', CHARGE), 400, 'request_invalid'],
    ['no path after the prefix', () => post('/stripe', CHARGE), 400, 'request_invalid'],
    ['no vault key', () => post('/stripe/v1/charges', CHARGE, { authorization: '' }), 401, 'key_unknown'],
    [
      'the real secret as the key',
      () => post('/stripe/v1/charges', CHARGE, { authorization: `Bearer ${SECRETS.stripe}` }),
      401,
      'key_unknown',
    ],
    [
      'a malformed Authorization',
      () => post('/stripe/v1/charges', CHARGE, { authorization: 'Bearer sk_sg_%%%' }),
      401,
      'key_unknown',
    ],
    [
      'a vault key in the body',
      () => post('/stripe/v1/customers', `description=${token}`),
      400,
      'request_invalid',
    ],
    [
      'a vault key in another header',
      () => post('/stripe/v1/customers', 'name=Ada', { 'x-note': token }),
      400,
      'request_invalid',
    ],
    [
      'a body over the limit',
      () => post('/stripe/v1/charges', `amount=1&d=${'x'.repeat(2048)}`),
      413,
      'request_invalid',
    ],
    [
      'headers over the limit',
      () => post('/stripe/v1/charges', CHARGE, { 'x-big': 'y'.repeat(1024) }),
      431,
      'request_invalid',
    ],
    [
      'a path over the limit',
      () => post(`/stripe/v1/charges?q=${'z'.repeat(600)}`, CHARGE),
      414,
      'request_invalid',
    ],
  ];

  it.each(refusals)(
    'refuses %s in the vendor shape, without reaching the vendor',
    async (_, request, status, code) => {
      const small = makeProxy({ bodyLimitBytes: 1024, headerLimitBytes: 1024, pathLimit: 512 });
      const response = await small.fetch(request());
      expect(response.status).toBe(status);
      expect(response.headers.get('spendguard-decision')).toBe(code);
      const body = await response.json();
      if (code === 'route_unknown')
        expect(body).toEqual({ error: { code: `spendguard_${code}`, message: expect.any(String) } });
      else expect(body).toMatchObject({ error: { type: expect.any(String), code: `spendguard_${code}` } });
      if (code !== 'route_unknown') expect(response.headers.get('stripe-should-retry')).toBe('false');
      expect(upstream.requests).toHaveLength(0);
    },
  );

  it('refuses dot segments and backslashes as the client sent them, before URL parsing resolves them', async () => {
    for (const target of [
      '/stripe/v1/refunds/../charges',
      '/stripe/v1/./charges',
      '/stripe\\v1\\charges',
      '/stripe/v1/%2e%2e/charges',
    ]) {
      const request = post(target, CHARGE); // the URL parser has already made it /stripe/v1/charges
      const response = await proxy.fetch(request, { target });
      expect(response.status, target).toBe(400);
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it("answers in Twilio's and Resend's own error shapes", async () => {
    const sms = await proxy.fetch(
      post('/twilio/2010-04-01/Accounts/AC1/Messages.json', 'To=1', { authorization: '' }),
    );
    expect(sms.status).toBe(401);
    expect(await sms.json()).toEqual({
      status: 401,
      code: 'spendguard_key_unknown',
      message: expect.any(String),
    });
    const email = await proxy.fetch(post('/resend/emails', '{}', { authorization: 'Bearer re_live_x' }));
    expect(await email.json()).toEqual({
      statusCode: 401,
      name: 'spendguard_key_unknown',
      message: expect.any(String),
    });
  });

  it('stops reading a streamed body at the limit, with no content-length to go by', async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const request = new Request('http://proxy.test/stripe/v1/charges', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: endless,
      duplex: 'half',
    } as RequestInit);
    const response = await proxy.fetch(request);
    expect(response.status).toBe(413);
    expect(pulled).toBeLessThan(20); // 1 MiB in 64 KiB chunks, and a little read-ahead
  });

  it('takes the body a server read already (context.body) instead of the stream, under the same limit', async () => {
    const request = new Request('http://proxy.test/stripe/v1/charges', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    const answered = await proxy.fetch(request, { body: new TextEncoder().encode(CHARGE) });
    expect(answered.status).toBe(200);
    expect(upstream.requests.map((r) => r.body)).toEqual([CHARGE]);

    const small = makeProxy({ bodyLimitBytes: 10 });
    const tooLarge = await small.fetch(request.clone(), { body: new Uint8Array(11) });
    expect(tooLarge.status).toBe(413);
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('createProxy: when the vendor fails', () => {
  it('turns a vendor that does not answer in time into outcome_unknown (504), keeping the reservation', async () => {
    upstream.answer = (request) =>
      new Promise((_, reject) =>
        request.signal.addEventListener('abort', () => reject(request.signal.reason)),
      );
    const slow = makeProxy({ upstreamTimeoutMs: 50 });
    const response = await slow.fetch(post('/stripe/v1/charges', CHARGE));
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({
      error: { type: 'api_error', code: 'spendguard_outcome_unknown' },
    });
    const [row] = await guard.audit.list();
    expect(row).toMatchObject({ decision: 'failed', code: 'outcome_unknown' });
    expect((await guard.spend(row?.keyId as string)).lifetimeUsd).toBe(5); // held until reconciled or re-sent
  });

  it('answers vendor_error (502) when the vendor cannot be reached, releasing the reservation', async () => {
    const closedPort = await freePort();
    const unreachable = createProxy({ guard, upstreams: { stripe: `http://127.0.0.1:${closedPort}` } });
    const response = await unreachable.fetch(post('/stripe/v1/charges', CHARGE));
    await unreachable.close();
    expect(response.status).toBe(502);
    expect(response.headers.get('spendguard-decision')).toBe('vendor_error');
    const [row] = await guard.audit.list();
    expect(row).toMatchObject({ decision: 'failed', code: 'vendor_error' });
    expect((await guard.spend(row?.keyId as string)).lifetimeUsd).toBe(0);
  });
});

describe('createProxy: /healthz, /metrics and the log', () => {
  it('/healthz is 200 while the store answers and 503 when it does not', async () => {
    const ok = await proxy.fetch(new Request('http://proxy.test/healthz'));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ok' });
    const down = new MemoryStore();
    down.auditHead = () => Promise.reject(new Error('ECONNREFUSED redis://:hunter2@10.0.0.1'));
    const sick = createProxy({ guard: createGuard({ policies: POLICIES, store: down }) });
    const response = await sick.fetch(new Request('http://proxy.test/healthz'));
    expect(response.status).toBe(503);
    expect(await response.text()).not.toContain('hunter2');
  });

  it('/metrics reports decisions, spend by root key and window, and both latencies, per proxy', async () => {
    const root = (await guard.keys.list())[0]?.id as string;
    await proxy.fetch(post('/stripe/v1/charges', CHARGE));
    await proxy.fetch(post('/stripe/v1/charges', CHARGE));
    await proxy.fetch(post('/stripe/v1/charges', 'amount=9000&currency=usd&source=tok_visa'));
    await proxy.fetch(post('/nowhere', CHARGE));
    const text = await (await proxy.fetch(new Request('http://proxy.test/metrics'))).text();
    expect(text).toContain('spendguard_proxy_decisions_total{vendor="stripe",code="executed"} 1');
    expect(text).toContain('spendguard_proxy_decisions_total{vendor="stripe",code="replayed"} 1');
    expect(text).toContain('spendguard_proxy_decisions_total{vendor="stripe",code="param_not_allowed"} 1');
    expect(text).toContain('spendguard_proxy_decisions_total{vendor="none",code="route_unknown"} 1');
    expect(text).toContain(`spendguard_proxy_spend_usd{root_key="${root}",window="lifetime"} 5`);
    expect(text).toContain(`spendguard_proxy_spend_usd{root_key="${root}",window="day"} 5`);
    expect(text).toContain('spendguard_proxy_upstream_duration_seconds_count{vendor="stripe"} 1');
    expect(text).toContain('spendguard_proxy_pipeline_duration_seconds_count{vendor="stripe"} 3');

    // Another proxy in the same process has a registry of its own.
    const other = await (await makeProxy().fetch(new Request('http://proxy.test/metrics'))).text();
    expect(other).not.toContain('spendguard_proxy_decisions_total{');
    const off = await makeProxy({ metrics: false }).fetch(new Request('http://proxy.test/metrics'));
    expect(off.status).toBe(404);
  });

  it('logs one JSON line per request: what happened, never the path, body or key', async () => {
    await proxy.fetch(post('/stripe/v1/charges', CHARGE));
    await proxy.fetch(new Request('http://proxy.test/stripe/v1/charges', { method: 'PROPFIND' }));
    expect(logs.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ vendor: 'stripe', method: 'POST', status: 200, decision: 'executed' }),
      expect.objectContaining({
        vendor: 'stripe',
        method: 'other',
        status: 405,
        decision: 'method_not_allowed',
      }),
    ]);
    expect(logs.join('\n')).not.toMatch(/charges|tok_visa|sk_sg_/);
  });
});

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
