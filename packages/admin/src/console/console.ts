import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AdminErrorCode } from '../admin-error.ts';
import type { AdminMetrics } from '../admin-metrics.ts';
import type { AdminToken } from '../admin-token.ts';
import { APP_HTML, APP_JS, CONSOLE_CSS, SIGN_IN_HTML, SIGN_IN_JS } from './assets.ts';
import { type ConsoleSession, csrfMatches, readCookie, SessionStore } from './session.ts';

/** Runs an admin API route as the admin (the console checked the session); `by` names the person. */
export type Dispatch = (request: Request, url: URL, by: string) => Promise<Response>;

export interface ConsoleOptions {
  token: AdminToken;
  metrics: AdminMetrics;
  dispatch: Dispatch;
  now?: () => number;
}

/** The routes of the admin API the console's pages may use. None returns a stored token; derive returns the new one. */
const CONSOLE_ROUTES: readonly [method: string, path: RegExp][] = [
  ['GET', /^\/v1\/keys$/],
  ['GET', /^\/v1\/keys\/[^/]+$/],
  ['GET', /^\/v1\/keys\/[^/]+\/spend$/],
  ['GET', /^\/v1\/spend$/],
  ['GET', /^\/v1\/spend\/series$/],
  ['GET', /^\/v1\/audit$/],
  ['GET', /^\/v1\/audit\/verify$/],
  ['GET', /^\/v1\/audit\/stream$/],
  ['GET', /^\/v1\/approvals$/],
  ['GET', /^\/v1\/pending$/],
  ['POST', /^\/v1\/keys\/derive$/],
  ['POST', /^\/v1\/keys\/[^/]+\/revoke$/],
  ['POST', /^\/v1\/approvals\/[^/]+\/(approve|deny)$/],
  ['POST', /^\/v1\/pending\/[^/]+\/reconcile$/],
];

const NAME = /^[\p{L}\p{N} ._@'-]{1,60}$/u;

/** Pages and scripts: nothing inline, nothing from elsewhere, never framed. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

interface Asset {
  type: string;
  body: string;
  /** Served without a session: the sign-in page's own assets. */
  open: boolean;
}

/** uPlot's own dist files, found next to this package at startup. */
function uplotAsset(file: string): string {
  try {
    return readFileSync(createRequire(import.meta.url).resolve(`uplot/dist/${file}`), 'utf8');
  } catch {
    return file.endsWith('.js') ? 'window.uPlot = undefined;' : '';
  }
}

/** Errors as the admin API's: a cross-site refusal is a 403 with code `unauthorized`. */
const json = (status: number, code: AdminErrorCode, message: string) =>
  Response.json({ error: { code, message } }, { status, headers: { 'cache-control': 'no-store' } });

/**
 * The web console on the admin listener: `/` (the app, or the sign-in page without a session),
 * `/console/sign-in`, `/console/assets/…`, and `/console/api/v1/…` — an allow-listed subset of the
 * admin API for a signed-in session. Returns undefined for every other path.
 */
export function createConsole(options: ConsoleOptions) {
  const { token, metrics, dispatch } = options;
  const sessions = new SessionStore(options.now);
  const assets = new Map<string, Asset>([
    ['/console/assets/console.css', { type: 'text/css', body: CONSOLE_CSS, open: true }],
    ['/console/assets/sign-in.js', { type: 'text/javascript', body: SIGN_IN_JS, open: true }],
    ['/console/assets/app.js', { type: 'text/javascript', body: APP_JS, open: false }],
    [
      '/console/assets/uPlot.iife.min.js',
      { type: 'text/javascript', body: uplotAsset('uPlot.iife.min.js'), open: false },
    ],
    ['/console/assets/uPlot.min.css', { type: 'text/css', body: uplotAsset('uPlot.min.css'), open: false }],
  ]);

  const cookieName = (url: URL) => (url.protocol === 'https:' ? '__Host-sg_console' : 'sg_console');
  const cookie = (url: URL, value: string, maxAge: number) =>
    `${cookieName(url)}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${url.protocol === 'https:' ? '; Secure' : ''}`;
  const page = (html: string, status = 200) =>
    new Response(html, { status, headers: { 'content-type': 'text/html; charset=utf-8', ...PAGE_HEADERS } });

  /** The request comes from this origin: `Origin` is ours (as listened on or as the browser named the host). */
  function sameOrigin(request: Request, url: URL): boolean {
    const origin = request.headers.get('origin');
    const site = request.headers.get('sec-fetch-site');
    if (site !== null && site !== 'same-origin') return false;
    if (origin === null) return false;
    const host = request.headers.get('host');
    return origin === url.origin || (host !== null && origin === `${url.protocol}//${host}`);
  }

  async function signIn(request: Request, url: URL): Promise<Response> {
    if (!sameOrigin(request, url)) return json(403, 'unauthorized', 'cross-site sign-in refused');
    let body: { token?: unknown; name?: unknown };
    try {
      const text = await request.text();
      if (text.length > 4096) return json(413, 'request_invalid', 'the body is too large');
      body = JSON.parse(text);
    } catch {
      return json(400, 'request_invalid', 'the body is not JSON');
    }
    const presented = typeof body.token === 'string' ? body.token : '';
    if (!token.accepts(`Bearer ${presented}`)) {
      metrics.unauthorized();
      return json(401, 'unauthorized', 'unauthorized');
    }
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    if (!NAME.test(name)) {
      return json(400, 'request_invalid', "give your name (1 to 60 letters, digits, spaces or . _ @ ' -)");
    }
    const { id } = sessions.create(name);
    return Response.json(
      { ok: true },
      { headers: { 'set-cookie': cookie(url, id, 12 * 3600), 'cache-control': 'no-store' } },
    );
  }

  async function api(request: Request, url: URL, session: ConsoleSession): Promise<Response> {
    const path = url.pathname.slice('/console/api'.length);
    if (path === '/session') {
      if (request.method !== 'GET') return json(405, 'method_not_allowed', 'GET only');
      return Response.json({ name: session.name, csrf: session.csrf });
    }
    if (!CONSOLE_ROUTES.some(([m, p]) => m === request.method && p.test(path))) {
      return json(404, 'not_found', `the console does not offer ${request.method} ${path}`);
    }
    const inner = new URL(url);
    inner.pathname = path;
    let forwarded: Request;
    if (request.method === 'GET') {
      forwarded = new Request(inner, { headers: request.headers, signal: request.signal });
    } else {
      const text = await request.text();
      if (text.length > 64 * 1024) return json(413, 'request_invalid', 'the body is too large');
      let body: unknown = {};
      try {
        if (text.trim() !== '') body = JSON.parse(text);
      } catch {
        return json(400, 'request_invalid', 'the body is not JSON');
      }
      // Who decided is the signed-in person, whatever the page says.
      if (body && typeof body === 'object' && !/\/keys\//.test(path)) {
        (body as Record<string, unknown>).by = `console: ${session.name}`;
      }
      forwarded = new Request(inner, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    }
    return dispatch(forwarded, inner, `console: ${session.name}`);
  }

  return {
    /** Whether a path is the console's. */
    owns(pathname: string): boolean {
      return pathname === '/' || pathname === '/console' || pathname.startsWith('/console/');
    },

    async handle(request: Request, url: URL): Promise<Response> {
      const { pathname } = url;
      const method = request.method;
      const sid = readCookie(request.headers.get('cookie'), cookieName(url));
      const session = sessions.get(sid);

      if (pathname === '/console/sign-in' && method === 'POST') return signIn(request, url);
      const asset = assets.get(pathname);
      if (asset && (method === 'GET' || method === 'HEAD')) {
        if (!asset.open && !session) return json(401, 'unauthorized', 'sign in first');
        return new Response(asset.body, {
          headers: { 'content-type': `${asset.type}; charset=utf-8`, ...PAGE_HEADERS },
        });
      }
      if (method === 'GET' && (pathname === '/' || pathname === '/console' || pathname === '/console/')) {
        return page(session ? APP_HTML : SIGN_IN_HTML);
      }
      if (method === 'GET' && pathname === '/console/sign-in') {
        return session ? new Response(null, { status: 303, headers: { location: '/' } }) : page(SIGN_IN_HTML);
      }
      if (!session) {
        return json(401, 'unauthorized', 'sign in first');
      }
      // Every state change: our origin, and the session's CSRF token in a header.
      if (method !== 'GET' && method !== 'HEAD') {
        if (!sameOrigin(request, url) || !csrfMatches(session, request.headers.get('x-csrf-token'))) {
          return json(403, 'unauthorized', 'cross-site request refused');
        }
      }
      if (pathname === '/console/sign-out' && method === 'POST') {
        sessions.delete(sid);
        return Response.json({ ok: true }, { headers: { 'set-cookie': cookie(url, '', 0) } });
      }
      if (pathname.startsWith('/console/api/')) return api(request, url, session);
      return json(404, 'not_found', `nothing at ${pathname}`);
    },
  };
}
