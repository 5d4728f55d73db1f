import { VendorCallError } from '@spendguard/core';
import { isBuffered } from './upstream-pool.ts';

/**
 * `base` with a deadline for the whole exchange (headers and body) and its duration reported to
 * `onDone` in ms; the deadline is the exchange's only signal. The body is read here, inside the
 * deadline, so a vendor that stalls halfway is a timeout too. A timeout is thrown as a
 * `VendorCallError` with outcome `unknown`: the vendor may have acted, so the guard keeps the
 * reservation and a retry re-sends with the same idempotency key.
 */
export function timedFetch(
  base: typeof fetch,
  options: { vendor: string; timeoutMs: number; onDone: (ms: number) => void },
): typeof fetch {
  return async (input, init) => {
    // The deadline alone stops the exchange, not the request's own signal: a vendor call once
    // sent runs to its answer so it can be settled (a client that hangs up does not undo it).
    const deadline = AbortSignal.timeout(options.timeoutMs);
    const started = performance.now();
    try {
      const response = await base(input, { ...init, signal: deadline });
      // The pool's answers arrive read in full, within the deadline: nothing left to wait for.
      if (isBuffered(response)) return response;
      const body = await response.arrayBuffer();
      return new Response(body.byteLength === 0 ? null : body, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    } catch (error) {
      if (!deadline.aborted) throw error;
      throw new VendorCallError(`${options.vendor} did not answer within ${options.timeoutMs} ms`, {
        outcome: 'unknown',
      });
    } finally {
      options.onDone(performance.now() - started);
    }
  };
}
