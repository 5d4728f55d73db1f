import { VendorCallError } from '@spendguard/core';
import { describe, expect, it } from 'vitest';
import { timedFetch } from './timed-fetch.ts';

describe('timedFetch', () => {
  it('reads the whole answer and reports how long it took', async () => {
    const took: number[] = [];
    const send = timedFetch(
      async () => new Response('{"id":"ch_1"}', { status: 201, headers: { 'request-id': 'r' } }),
      {
        vendor: 'stripe',
        timeoutMs: 1000,
        onDone: (ms) => took.push(ms),
      },
    );
    const response = await send('http://stripe.test/v1/charges');
    expect([response.status, response.headers.get('request-id'), await response.text()]).toEqual([
      201,
      'r',
      '{"id":"ch_1"}',
    ]);
    expect(took).toHaveLength(1);
  });

  it('turns a vendor that stalls (before or during the body) into an unknown outcome', async () => {
    const stalled = (signal: AbortSignal) =>
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"id":'));
          signal.addEventListener('abort', () => controller.error(signal.reason));
        },
      });
    for (const base of [
      (_: unknown, init?: RequestInit) =>
        new Promise<Response>((_, reject) =>
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
        ),
      async (_: unknown, init?: RequestInit) => new Response(stalled(init?.signal as AbortSignal)),
    ]) {
      const send = timedFetch(base as typeof fetch, { vendor: 'stripe', timeoutMs: 30, onDone: () => {} });
      const error = await send('http://stripe.test/v1/charges').catch((e: unknown) => e);
      expect(VendorCallError.isInstance(error) && error.spendguardOutcome).toBe('unknown');
      expect((error as Error).message).toBe('stripe did not answer within 30 ms');
    }
  });

  it('re-throws any other failure as it is', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const send = timedFetch(
      async () => {
        throw refused;
      },
      { vendor: 'stripe', timeoutMs: 1000, onDone: () => {} },
    );
    await expect(send('http://stripe.test/')).rejects.toBe(refused);
  });

  it("runs a call once sent to its answer even if the caller's signal aborts: only the deadline stops it", async () => {
    const caller = new AbortController();
    let seen: AbortSignal | undefined;
    const send = timedFetch(
      async (_input, init) => {
        seen = init?.signal ?? undefined;
        caller.abort();
        await new Promise((resolve) => setTimeout(resolve, 5));
        return new Response('{"id":"ch_1"}');
      },
      { vendor: 'stripe', timeoutMs: 1000, onDone: () => {} },
    );
    const response = await send('http://stripe.test/v1/charges', { signal: caller.signal });
    expect(await response.text()).toBe('{"id":"ch_1"}');
    expect(seen).not.toBe(caller.signal);
    expect(seen?.aborted).toBe(false);
  });
});
