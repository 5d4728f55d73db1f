import {
  classifyVendorError,
  DECISION_CODES,
  handleVendorRequest,
  REDACTED,
  Redactor,
  withRemoteParent,
} from '@spendguard/core';
import { traceIdOf } from './correlation.ts';
import { forwardedHeaders } from './forwarded-headers.ts';
import { healthCheck } from './health.ts';
import { ProxyMetrics } from './metrics.ts';
import { type ProxyOptions, resolveProxyOptions } from './options.ts';
import { type ProxyRefusalCode, proxyRefusal } from './refusals.ts';
import { headerBytes, readBody } from './request-body.ts';
import { isWellFormedPath, type Route, routeOf } from './routes.ts';
import { timedFetch } from './timed-fetch.ts';
import { createUpstreamPool, type UpstreamPool } from './upstream-pool.ts';
import { carriesVaultToken, VAULT_TOKENS, vaultTokenOf } from './vault-key.ts';

export interface Proxy {
  /**
   * One request, answered: the vendor's answer through the guard, a refusal in the vendor's own
   * error shape, `/healthz` or `/metrics`. Never throws.
   */
  fetch(request: Request, context?: RequestContext): Promise<Response>;
  /** Closes the connections to the vendors. The guard (and its store) stays the caller's. */
  close(): Promise<void>;
}

export interface RequestContext {
  /**
   * The request target exactly as the client sent it (`serveProxy` passes it): URL parsing has
   * resolved dot segments and backslashes by the time a `Request` exists, and the proxy refuses
   * such a path rather than send on what it resolves to.
   */
  target?: string;
  /**
   * The body's bytes as the server read them, up to one byte past the body limit (`serveProxy`
   * passes them): used instead of reading the `Request`'s body stream, which costs more than
   * the copy. Default: the body is read from the request.
   */
  body?: Uint8Array;
}

/** As `Request.text()` decodes a body (a BOM dropped, bad bytes replaced). */
const UTF8 = new TextDecoder();
/** The methods the vendors' APIs use. */
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** A client's Idempotency-Key the proxy accepts as a business key: Stripe's bound, visible ASCII. */
const CLIENT_IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** Decisions whose body is the vendor's own successful answer, passed through as it is. */
const ANSWERED = new Set(['executed', 'executed_not_recorded', 'replayed', 'replayed_after_wait']);
/** Every code a response can carry: the metric's label values (anything else is `other`). */
const CODES = new Set<string>([
  ...DECISION_CODES,
  ...([
    'route_unknown',
    'method_not_allowed',
    'request_invalid',
    'key_unknown',
    'vendor_error',
    'outcome_unknown',
    'internal_error',
  ] satisfies ProxyRefusalCode[]),
]);

/** What one request came to, for its log line and metrics. */
interface Outcome {
  route: Route['kind'];
  vendor?: string;
  /** Whether it reached the guard (the pipeline histogram counts only those). */
  guarded: boolean;
  upstreamMs: number;
  traceId?: string;
}

/**
 * The vendor proxy as a `fetch(request) → Response` handler (serve it with `serveProxy`, or mount
 * it in any server that speaks Request and Response). Each vendor request is checked (route,
 * method, size, path, vault key) and then handed to core's `handleVendorRequest`, which runs it
 * through the guard: exactly once, capped, scoped to the vault key, audited.
 */
export function createProxy(options: ProxyOptions): Proxy {
  const settings = resolveProxyOptions(options);
  const { guard } = settings;
  // A `fetch` the caller gives stays the caller's to close.
  const transport: UpstreamPool = settings.fetch
    ? { fetch: settings.fetch, close: async () => {} }
    : createUpstreamPool();
  const metrics = settings.metrics ? new ProxyMetrics(guard) : undefined;

  async function answer(request: Request, context: RequestContext, outcome: Outcome): Promise<Response> {
    const url = new URL(request.url);
    const route = routeOf(url.pathname, settings.upstreams);
    outcome.route = route.kind;
    outcome.vendor = route.kind === 'vendor' ? route.vendor : undefined;
    if (url.pathname.length + url.search.length > settings.pathLimit) {
      return proxyRefusal(
        outcome.vendor,
        414,
        'request_invalid',
        `the request path and query are longer than ${settings.pathLimit} characters`,
      );
    }
    if (route.kind === 'vendor')
      return vendorRequest(request, url, route.vendor, route.path, context, outcome);
    if (route.kind === 'health') return request.method === 'GET' ? healthCheck(guard) : getOnly(url);
    if (route.kind === 'metrics' && metrics)
      return request.method === 'GET' ? metrics.scrape() : getOnly(url);
    return proxyRefusal(
      undefined,
      404,
      'route_unknown',
      "no such route: vendor requests start with /stripe/, /twilio/ or /resend/ (or Stripe's own /v1/)",
    );
  }

  async function vendorRequest(
    request: Request,
    url: URL,
    vendor: string,
    path: string,
    context: RequestContext,
    outcome: Outcome,
  ): Promise<Response> {
    const refuse = (
      status: number,
      code: ProxyRefusalCode,
      message: string,
      headers?: Record<string, string>,
    ) => proxyRefusal(vendor, status, code, message, headers);
    if (!METHODS.has(request.method)) {
      return refuse(405, 'method_not_allowed', `${vendor} requests are GET, POST, PUT, PATCH or DELETE`, {
        allow: [...METHODS].join(', '),
      });
    }
    if (headerBytes(request.headers) > settings.headerLimitBytes) {
      return refuse(
        431,
        'request_invalid',
        `the request headers are larger than ${settings.headerLimitBytes} bytes`,
      );
    }
    if (!isWellFormedPath(path, url.pathname, context.target)) {
      return refuse(
        400,
        'request_invalid',
        `the request path is malformed: after /${vendor} it must be the vendor's own path in plain form, without empty, "." or ".." segments, percent-encoding, backslashes or a trailing slash`,
      );
    }
    const key = vaultTokenOf(request.headers.get('authorization'));
    if (key === undefined) {
      return refuse(
        401,
        'key_unknown',
        `no spendguard vault key: give the ${vendor} client a vault key (sk_sg_…) where it takes its secret`,
      );
    }
    let idempotencyKey: string | undefined;
    if (settings.clientIdempotencyKey.has(vendor)) {
      const header = request.headers.get('idempotency-key');
      if (header !== null && !CLIENT_IDEMPOTENCY_KEY.test(header)) {
        return refuse(
          400,
          'request_invalid',
          'the Idempotency-Key header must be 1 to 255 visible ASCII characters',
        );
      }
      idempotencyKey = header ?? undefined;
    }
    let body: Uint8Array | undefined;
    if (request.method !== 'GET') {
      body = await readBody(request, settings.bodyLimitBytes, context.body);
      if (body === undefined) {
        return refuse(
          413,
          'request_invalid',
          `the request body is larger than ${settings.bodyLimitBytes} bytes`,
        );
      }
    }
    if (carriesVaultToken(url, request.headers, body)) {
      return refuse(
        400,
        'request_invalid',
        'the request carries a vault key outside its Authorization header; a vault key is never sent to a vendor',
      );
    }
    // What never comes back out: the guard's secrets, this request's vault key in any encoding
    // (raw, URL-encoded, base64, a Basic pair), and any vault token as it is.
    let own: Redactor | undefined;
    const hide = (text: string) => {
      own ??= new Redactor([key]);
      return own.redact(guard.redact(text)).replace(VAULT_TOKENS, REDACTED);
    };
    outcome.traceId = traceIdOf(request.headers, (text) => hide(text) !== text);
    const upstream = settings.upstreams.get(vendor) as string;
    // The vendor's URL, so the guard reads the request as that vendor's; `upstream` says where it goes.
    // The body goes to the guard as text, read once: not put in the Request to be read again.
    const governed = new Request(`${upstream}${path}${url.search}`, {
      method: request.method,
      headers: forwardedHeaders(request.headers),
    });
    outcome.guarded = true;
    let response: Response;
    try {
      response = await withRemoteParent(request.headers, () =>
        handleVendorRequest(governed, {
          guard,
          vendor,
          key,
          upstream,
          body: body === undefined ? '' : UTF8.decode(body),
          idempotencyKey,
          traceId: outcome.traceId,
          fetch: timedFetch(transport.fetch, {
            vendor,
            timeoutMs: settings.upstreamTimeoutMs,
            onDone: (ms) => {
              outcome.upstreamMs += ms;
              metrics?.upstream(vendor, ms);
            },
          }),
        }),
      );
    } catch (error) {
      // A transport error: core re-throws it (a governed fetch's caller expects one); a client of
      // the proxy gets an answer in its vendor's shape instead.
      return classifyVendorError(error) === 'unknown'
        ? refuse(
            504,
            'outcome_unknown',
            `${vendor} did not answer in time, or the connection broke after the request was sent: it may have acted. A retry once the call's lease ends re-sends it with the same idempotency key`,
          )
        : refuse(502, 'vendor_error', `${vendor} could not be reached; the request was not sent`);
    }
    if (ANSWERED.has(response.headers.get('spendguard-decision') ?? '')) return response;
    // A refusal or the vendor's error answer: its message may quote the request (a path, a param).
    return new Response(hide(await response.text()), { status: response.status, headers: response.headers });
  }

  function record(request: Request, response: Response, outcome: Outcome, ms: number): void {
    if (outcome.route === 'health' || outcome.route === 'metrics') return;
    const vendor = outcome.vendor ?? 'none';
    const decision = response.headers.get('spendguard-decision') ?? '';
    const code = CODES.has(decision) ? decision : 'other';
    metrics?.decision(vendor, code);
    if (outcome.guarded) metrics?.pipeline(vendor, ms - outcome.upstreamMs);
    settings.logger?.(
      JSON.stringify({
        time: new Date().toISOString(),
        vendor,
        // The method is a token the client chose: logged only when it is one of ours.
        method: METHODS.has(request.method) ? request.method : 'other',
        status: response.status,
        decision: code,
        ms: round(ms),
        upstreamMs: round(outcome.upstreamMs),
        ...(outcome.traceId !== undefined && { traceId: outcome.traceId }),
      }),
    );
  }

  return {
    async fetch(request, context = {}) {
      const started = performance.now();
      const outcome: Outcome = { route: 'unknown', guarded: false, upstreamMs: 0 };
      let response: Response;
      try {
        response = await answer(request, context, outcome);
      } catch {
        // A bug or a broken store read outside the guard's decisions: nothing of it is shown.
        response = proxyRefusal(
          outcome.vendor,
          500,
          'internal_error',
          'the proxy could not handle this request',
        );
      }
      record(request, response, outcome, performance.now() - started);
      return response;
    },
    close: () => transport.close(),
  };
}

function getOnly(url: URL): Response {
  return proxyRefusal(undefined, 405, 'method_not_allowed', `${url.pathname} answers GET only`, {
    allow: 'GET',
  });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
