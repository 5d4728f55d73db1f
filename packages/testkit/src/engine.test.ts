import { expect, it } from 'vitest';
import {
  createHandle,
  encodeCredential,
  type FakeRequest,
  type FakeResponse,
  jsonResponse,
  type Outcome,
} from './engine.ts';
import { Faults, type StripeFault } from './faults.ts';
import { IdempotencyStore } from './idempotency.ts';

/** A minimal vendor: POST /act counts how often it acted; keys up to 5 characters. */
function vendor(options: { keepsInjectedFailure?: boolean } = {}) {
  const faults = new Faults<StripeFault>();
  let acted = 0;
  const handle = createHandle<unknown>({
    takeFault: faults.take.bind(faults),
    now: () => 0,
    authenticate: (r) => (r.headers.get('authorization') === 'ok' ? undefined : jsonResponse(401, {})),
    credentialOf: (r) => ({ user: 'user', secret: r.headers.get('authorization') ?? '' }),
    route: (r) =>
      r.path === '/act'
        ? {
            params: JSON.parse(r.body),
            idempotent: true,
            act: () => {
              acted += 1;
              return { response: jsonResponse(200, { acted }), keep: true };
            },
          }
        : jsonResponse(404, {}),
    rateLimited: () => jsonResponse(429, {}),
    serverError: (status) => jsonResponse(status, { error: 'boom' }),
    idempotency: {
      store: new IdempotencyStore({ ttlMs: 60_000, now: () => 0 }),
      maxKeyLength: 5,
      invalidKey: () => jsonResponse(400, { error: 'key' }),
      inFlight: () => jsonResponse(409, {}),
      mismatch: () => jsonResponse(400, { error: 'mismatch' }),
      replayHeaders: { replayed: 'yes' },
      keepsInjectedFailure: options.keepsInjectedFailure ?? true,
    },
    record: () => {},
  });
  const send = async (key?: string, body = '{"a":1}', path = '/act'): Promise<FakeResponse> => {
    const headers = new Headers({ authorization: 'ok' });
    if (key !== undefined) headers.set('idempotency-key', key);
    const request: FakeRequest = { method: 'POST', path, query: new URLSearchParams(), headers, body };
    return respondOf(await handle(request, new AbortController().signal));
  };
  return { faults, send, acted: () => acted, handle };
}

function respondOf(outcome: Outcome): FakeResponse {
  if (outcome.type !== 'respond') throw new Error(`expected an answer, got ${outcome.type}`);
  return outcome.response;
}

it('replays, refuses other params, and checks the key length', async () => {
  const v = vendor();
  expect((await v.send('k', '{"a":1,"b":2}')).status).toBe(200);
  const replay = await v.send('k', '{"b":2,"a":1}'); // same params, other order
  expect(replay).toMatchObject({ status: 200, headers: { replayed: 'yes' } });
  expect(JSON.parse((await v.send('k', '{"a":2}')).body)).toEqual({ error: 'mismatch' });
  expect(JSON.parse((await v.send('toolong')).body)).toEqual({ error: 'key' });
  expect(v.acted()).toBe(1);
});

it('stores an injected 500 when the vendor keeps what it sent', async () => {
  const v = vendor({ keepsInjectedFailure: true });
  v.faults.inject({ kind: 'fail_after_act' });
  expect((await v.send('k')).status).toBe(500);
  expect((await v.send('k')).status).toBe(500);
  expect(v.acted()).toBe(1);
});

it('stores the real answer behind an injected 500 otherwise', async () => {
  const v = vendor({ keepsInjectedFailure: false });
  v.faults.inject({ kind: 'fail_after_act' });
  expect((await v.send('k')).status).toBe(500);
  expect(await v.send('k')).toMatchObject({ status: 200, headers: { replayed: 'yes' } });
  expect(v.acted()).toBe(1);
});

it('does not spend a fault on a request refused as in flight', async () => {
  const v = vendor();
  v.faults.inject({ kind: 'latency', ms: 100 });
  const first = v.send('k'); // takes the latency fault and holds the key
  v.faults.inject({ kind: 'fail_after_act' });
  expect((await v.send('k')).status).toBe(409);
  expect(v.faults.pending().map((p) => p.fault.kind)).toEqual(['fail_after_act']);
  expect((await first).status).toBe(200);
  expect((await v.send('other')).status).toBe(500);
});

it('releases the key when a match callback throws', async () => {
  const v = vendor();
  v.faults.inject(
    { kind: 'reset_after_act' },
    {
      match: () => {
        throw new Error('bad matcher');
      },
    },
  );
  await expect(v.send('k')).rejects.toThrow('bad matcher');
  v.faults.clear();
  expect((await v.send('k')).status).toBe(200);
});

it('does not store a rate-limited request, and 401/404 take no fault', async () => {
  const v = vendor();
  v.faults.inject({ kind: 'rate_limit' });
  const unauthenticated = await v.handle(
    {
      method: 'POST',
      path: '/act',
      query: new URLSearchParams(),
      headers: new Headers(),
      body: '{}',
    },
    new AbortController().signal,
  );
  expect(respondOf(unauthenticated).status).toBe(401);
  expect((await v.send('k', '{}', '/nowhere')).status).toBe(404);
  expect((await v.send('k')).status).toBe(429);
  expect((await v.send('k')).status).toBe(200);
});

it('resets after acting, and holds the answer back for timeout_after_act', async () => {
  const v = vendor();
  const request = (): FakeRequest => ({
    method: 'POST',
    path: '/act',
    query: new URLSearchParams(),
    headers: new Headers({ authorization: 'ok' }),
    body: '{}',
  });
  v.faults.inject({ kind: 'reset_after_act' });
  expect(await v.handle(request(), new AbortController().signal)).toEqual({ type: 'reset' });
  v.faults.inject({ kind: 'timeout_after_act', ms: 5000 });
  expect(await v.handle(request(), new AbortController().signal)).toMatchObject({
    type: 'respond',
    delayMs: 5000,
  });
  expect(v.acted()).toBe(2);
});

it('echoes the credential into the answer, the answer it stores for replay, and error messages', async () => {
  const v = vendor({ keepsInjectedFailure: false });
  v.faults.inject({ kind: 'echo_credential', encoding: 'raw' });
  expect(JSON.parse((await v.send('k')).body)).toEqual({ acted: 1, credential_echo: 'ok' });
  expect(JSON.parse((await v.send('k')).body)).toEqual({ acted: 1, credential_echo: 'ok' });
  v.faults.inject({ kind: 'echo_credential', encoding: 'basic' });
  v.faults.inject({ kind: 'rate_limit' });
  expect(JSON.parse((await v.send('k2')).body)).toEqual({
    message: `(credential received: ${btoa('user:ok')})`,
  });
  v.faults.inject({ kind: 'echo_credential', encoding: 'url' });
  v.faults.inject({ kind: 'fail_after_act' });
  const failed = await v.send('k3');
  expect(failed.status).toBe(500);
  expect(JSON.parse(failed.body)).toEqual({ error: 'boom', message: '(credential received: ok)' });
  // The real answer stored behind the 500 carries the echo too.
  expect(JSON.parse((await v.send('k3')).body)).toEqual({ acted: 2, credential_echo: 'ok' });
});

it('encodes a received credential as raw, URL-encoded, base64 or a base64 Basic pair', () => {
  const credential = { user: 'AC1', secret: 'to ken/+' };
  expect(encodeCredential(credential, 'raw')).toBe('to ken/+');
  expect(encodeCredential(credential, 'url')).toBe('to%20ken%2F%2B');
  expect(encodeCredential(credential, 'base64')).toBe(btoa('to ken/+'));
  expect(encodeCredential(credential, 'basic')).toBe(btoa('AC1:to ken/+'));
});
