import type { Guard } from '@spendguard/core';
import { errorResponse, toAdminError } from './admin-error.ts';
import { AdminMetrics } from './admin-metrics.ts';
import { AdminToken, type AdminTokenSource } from './admin-token.ts';
import { APPROVAL_ROUTES } from './approval-routes.ts';
import { AuditFeed } from './audit-feed.ts';
import { AUDIT_ROUTES } from './audit-routes.ts';
import { auditStreamRoute } from './audit-stream-route.ts';
import { createConsole } from './console/console.ts';
import { KEY_ROUTES } from './key-routes.ts';
import { PENDING_ROUTES } from './pending-routes.ts';
import { matchRoute, type Route } from './router.ts';
import { SPEND_ROUTES } from './spend-routes.ts';
import { SPEND_SERIES_ROUTE } from './spend-series-route.ts';

export interface AdminApiOptions {
  /** The guard whose keys, spend, audit log, approvals and pending calls the API serves. */
  guard: Guard;
  /** Where the admin token comes from, by reference: `{ env: 'SPENDGUARD_ADMIN_TOKEN' }` or `{ file }`. */
  token: AdminTokenSource;
  /** One JSON line per request (method, route, status, ms; never a body or token). Default: none. */
  logger?: (line: string) => void;
  /** Clock for key states. Default: `Date.now`. */
  now?: () => number;
  /** Serve the web console at `/` (sign-in with the admin token, then a session cookie). Default: true. */
  console?: boolean;
}

export interface AdminApi {
  /** Answer one request: JSON in and out, errors as `{ error: { code, message } }`. */
  fetch(request: Request): Promise<Response>;
  readonly metrics: AdminMetrics;
  /** Stops the live audit feed's poller (`serveAdmin`'s `close` calls it). */
  close(): void;
}

const ROUTES: readonly Route[] = [
  ...KEY_ROUTES,
  ...SPEND_ROUTES,
  SPEND_SERIES_ROUTE,
  ...AUDIT_ROUTES,
  ...APPROVAL_ROUTES,
  ...PENDING_ROUTES,
];

/** Served without the token: a health probe and Prometheus metrics (no key material in either). */
const OPEN_PATHS = new Set(['/healthz', '/metrics']);

/** Who revoked a key through the Bearer-token API, as the live feed says. */
const DEFAULT_BY = 'admin api';

const UNAUTHORIZED = () =>
  Response.json(
    { error: { code: 'unauthorized', message: 'unauthorized' } },
    { status: 401, headers: { 'www-authenticate': 'Bearer' } },
  );

/**
 * The admin API as a `fetch(request) → Response` handler (serve it with `serveAdmin`, on its own
 * listener, never the proxy's). Every `/v1/…` route needs `Authorization: Bearer <admin token>`;
 * a missing or wrong one gets a bare 401 and is counted. No route returns a stored token: the
 * only token ever in a response is the one just issued or derived.
 */
export function createAdminApi(options: AdminApiOptions): AdminApi {
  const { guard, logger } = options;
  const now = options.now ?? Date.now;
  const token = AdminToken.resolve(options.token);
  const metrics = new AdminMetrics();
  const feed = new AuditFeed(guard);
  const routes: readonly Route[] = [...ROUTES, auditStreamRoute(feed)];

  /** Runs the matched route as the admin; `by` is who, for the live feed's admin events. */
  async function dispatch(
    request: Request,
    url: URL,
    by: string,
  ): Promise<{ route: string; response: Response }> {
    let route = 'unmatched';
    try {
      const matched = matchRoute(routes, request.method, url.pathname);
      route = `${matched.route.method} ${matched.route.path}`;
      const response = await matched.route.handle({ request, url, params: matched.params, guard, now });
      if (route === 'POST /v1/keys/:id/revoke' && response.status === 200) {
        const { revoked, key } = (await response.clone().json()) as { revoked: boolean; key: { id: string } };
        if (revoked) feed.publish({ type: 'key_revoked', keyId: key.id, at: now(), by });
      }
      return { route, response };
    } catch (error) {
      return { route, response: errorResponse(toAdminError(error, (text) => guard.redact(text))) };
    }
  }
  const web =
    options.console === false
      ? undefined
      : createConsole({
          token,
          metrics,
          ...(options.now !== undefined && { now: options.now }),
          dispatch: async (request, url, by) => (await dispatch(request, url, by)).response,
        });

  async function open(pathname: string): Promise<Response> {
    if (pathname === '/metrics') {
      return new Response(await metrics.registry.metrics(), {
        headers: { 'content-type': metrics.registry.contentType },
      });
    }
    try {
      await guard.store.auditHead();
      return Response.json({ ok: true });
    } catch {
      return Response.json(
        { ok: false, error: { code: 'store_unavailable', message: 'the store is unreachable' } },
        { status: 503 },
      );
    }
  }

  return {
    metrics,
    close: () => feed.close(),
    async fetch(request) {
      const started = performance.now();
      const url = new URL(request.url);
      let route = 'unmatched';
      let response: Response;
      if (request.method === 'GET' && OPEN_PATHS.has(url.pathname)) {
        route = url.pathname;
        response = await open(url.pathname);
      } else if (web?.owns(url.pathname)) {
        route = url.pathname.startsWith('/console/api/') ? '/console/api' : '/console';
        response = await web.handle(request, url);
      } else if (!token.accepts(request.headers.get('authorization'))) {
        metrics.unauthorized();
        response = UNAUTHORIZED();
      } else {
        ({ route, response } = await dispatch(request, url, DEFAULT_BY));
      }
      const ms = performance.now() - started;
      metrics.request(route, response.status, ms / 1000);
      logger?.(
        JSON.stringify({
          at: new Date().toISOString(),
          method: request.method,
          route,
          status: response.status,
          ms: Math.round(ms * 10) / 10,
        }),
      );
      if (!response.headers.has('cache-control')) response.headers.set('cache-control', 'no-store');
      return response;
    },
  };
}
