import { expect, it } from 'vitest';
import { jsonResponse } from './engine.ts';
import { IdempotencyStore } from './idempotency.ts';

const ok = jsonResponse(200, { id: 'x' });

it('claims, reports in flight, then replays or refuses other params', () => {
  const store = new IdempotencyStore({ ttlMs: 1000, now: () => 0 });
  expect(store.claim('k', 'a')).toEqual({ type: 'fresh' });
  expect(store.claim('k', 'a')).toEqual({ type: 'in_flight' });
  store.complete('k', ok);
  expect(store.claim('k', 'a')).toEqual({ type: 'replay', response: ok });
  expect(store.claim('k', 'b')).toEqual({ type: 'mismatch' });
});

it('frees a released key', () => {
  const store = new IdempotencyStore({ ttlMs: 1000, now: () => 0 });
  store.claim('k', 'a');
  store.release('k');
  expect(store.claim('k', 'b')).toEqual({ type: 'fresh' });
});

it('forgets a key after the TTL', () => {
  let now = 0;
  const store = new IdempotencyStore({ ttlMs: 1000, now: () => now });
  store.claim('k', 'a');
  store.complete('k', ok);
  now = 999;
  expect(store.claim('k', 'b')).toEqual({ type: 'mismatch' });
  now = 1000;
  expect(store.claim('k', 'b')).toEqual({ type: 'fresh' });
});
