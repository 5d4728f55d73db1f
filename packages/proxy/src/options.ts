import type { Guard } from '@spendguard/core';

/** The real API origins, used when `upstreams` names none for a vendor. */
export const DEFAULT_UPSTREAMS: Readonly<Record<string, string>> = {
  stripe: 'https://api.stripe.com',
  twilio: 'https://api.twilio.com',
  resend: 'https://api.resend.com',
};

/** The defaults of `ProxyOptions`' limits. */
export const PROXY_DEFAULTS = {
  bodyLimitBytes: 1024 * 1024,
  headerLimitBytes: 8 * 1024,
  pathLimit: 4096,
  upstreamTimeoutMs: 30_000,
} as const;

export interface ProxyOptions {
  /** The guard every vendor request goes through (policy, store, credentials). */
  guard: Guard;
  /** Vendor → origin requests are sent to. Default: the real HTTPS APIs (`DEFAULT_UPSTREAMS`). */
  upstreams?: Partial<Record<string, string>>;
  /** The largest request body accepted, in bytes. Default: 1 MiB (1,048,576), core's decode bound. */
  bodyLimitBytes?: number;
  /** The most header bytes accepted (names and values). Default: 8 KiB (8,192). */
  headerLimitBytes?: number;
  /** The longest request target (path and query string) accepted, in characters. Default: 4,096. */
  pathLimit?: number;
  /**
   * How long a vendor has to answer, headers and body, before the call's outcome is unknown (the
   * reservation is kept; a retry after the lease re-sends with the same idempotency key where the
   * vendor honours one). Default: 30,000 ms.
   */
  upstreamTimeoutMs?: number;
  /**
   * Vendors whose clients' `Idempotency-Key` header is used as the business key of a call (its
   * checkpoint key). Default: none — the SDKs send a new random key on every logical call, so it
   * cannot catch an agent's retry; the content of the call is the key. Opt in for clients that
   * send a meaningful key (an order id from a workflow engine).
   */
  clientIdempotencyKey?: readonly string[];
  /** Serve Prometheus metrics at `/metrics`. Default: true. */
  metrics?: boolean;
  /** Receives one JSON line per request (never a secret, token, path or body). Default: none. */
  logger?: (line: string) => void;
  /**
   * The fetch that reaches the vendors. Default: undici over a keep-alive connection pool per
   * origin. Tests pass a fake one.
   */
  fetch?: typeof fetch;
}

/** Options with every default filled in, resolved once per proxy. */
export interface ResolvedProxyOptions {
  guard: Guard;
  upstreams: ReadonlyMap<string, string>;
  bodyLimitBytes: number;
  headerLimitBytes: number;
  pathLimit: number;
  upstreamTimeoutMs: number;
  clientIdempotencyKey: ReadonlySet<string>;
  metrics: boolean;
  logger: ((line: string) => void) | undefined;
  fetch: typeof fetch | undefined;
}

export function resolveProxyOptions(options: ProxyOptions): ResolvedProxyOptions {
  const upstreams = new Map(Object.entries(DEFAULT_UPSTREAMS));
  for (const [vendor, origin] of Object.entries(options.upstreams ?? {})) {
    if (origin === undefined) continue;
    if (!upstreams.has(vendor))
      throw new TypeError(`upstreams: no vendor "${vendor}" (stripe, twilio, resend)`);
    upstreams.set(vendor, new URL(origin).origin);
  }
  return {
    guard: options.guard,
    upstreams,
    bodyLimitBytes: positive('bodyLimitBytes', options.bodyLimitBytes, PROXY_DEFAULTS.bodyLimitBytes),
    headerLimitBytes: positive('headerLimitBytes', options.headerLimitBytes, PROXY_DEFAULTS.headerLimitBytes),
    pathLimit: positive('pathLimit', options.pathLimit, PROXY_DEFAULTS.pathLimit),
    upstreamTimeoutMs: positive(
      'upstreamTimeoutMs',
      options.upstreamTimeoutMs,
      PROXY_DEFAULTS.upstreamTimeoutMs,
    ),
    clientIdempotencyKey: new Set(options.clientIdempotencyKey ?? []),
    metrics: options.metrics ?? true,
    logger: options.logger,
    fetch: options.fetch,
  };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`);
  return value;
}
