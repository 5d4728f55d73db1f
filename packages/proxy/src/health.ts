import type { Guard } from '@spendguard/core';

/** How long `/healthz` waits for the store before it calls it unreachable. */
const STORE_CHECK_MS = 2000;

/**
 * `/healthz`: 200 when the store answers a read within 2 s, else 503 — with spendguard failing
 * closed, a proxy whose store is down refuses every call, so it is not healthy. The store's
 * error is not shown (it may name a host); the proxy's log has no more either.
 */
export async function healthCheck(guard: Guard): Promise<Response> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), STORE_CHECK_MS);
  });
  const read = guard.store.auditHead().then(
    () => true,
    () => false,
  );
  const reachable = await Promise.race([read, timeout]);
  clearTimeout(timer);
  return Response.json(
    reachable ? { status: 'ok' } : { status: 'unavailable', reason: 'the store cannot be reached' },
    { status: reachable ? 200 : 503, headers: { 'cache-control': 'no-store' } },
  );
}
