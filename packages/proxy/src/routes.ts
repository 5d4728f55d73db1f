import { isCanonicalPath } from '@spendguard/core';

/** Where a request goes, read from its path. */
export type Route =
  | { kind: 'health' }
  | { kind: 'metrics' }
  /** `path` is the vendor's own path: what follows the vendor prefix. */
  | { kind: 'vendor'; vendor: string; path: string }
  | { kind: 'unknown' };

/**
 * `/stripe/v1/…`, `/twilio/2010-04-01/…`, `/resend/…`: the first segment names the vendor and
 * the rest is its path. Stripe's own `/v1/…` and `/v2/…` are Stripe's too, because stripe-node
 * can change only the host and port it calls, not a base path.
 */
export function routeOf(pathname: string, vendors: ReadonlyMap<string, string>): Route {
  if (pathname === '/healthz') return { kind: 'health' };
  if (pathname === '/metrics') return { kind: 'metrics' };
  const slash = pathname.indexOf('/', 1);
  const first = slash === -1 ? pathname.slice(1) : pathname.slice(1, slash);
  if (first === 'v1' || first === 'v2') return { kind: 'vendor', vendor: 'stripe', path: pathname };
  if (vendors.has(first))
    return { kind: 'vendor', vendor: first, path: slash === -1 ? '' : pathname.slice(slash) };
  return { kind: 'unknown' };
}

/**
 * Whether a vendor path is in the one form the policy matches: segments of plain characters, no
 * empty, `.` or `..` segment, no percent-encoding (so no encoded slash or dot), no trailing slash.
 * `target` is the request target as the client sent it, when known: URL parsing has already
 * resolved dot segments and backslashes in `pathname`, and those must be refused, not resolved.
 */
export function isWellFormedPath(vendorPath: string, pathname: string, target: string | undefined): boolean {
  if (target !== undefined) {
    const query = target.indexOf('?');
    if ((query === -1 ? target : target.slice(0, query)) !== pathname) return false;
  }
  return isCanonicalPath(vendorPath);
}
