import { DEFAULT_PROFILES, type VendorProfile } from '@spendguard/core';

/**
 * Codes of the refusals the proxy makes itself, before a request reaches the guard (the guard's
 * own decisions carry core's codes). Clients read them as `spendguard_<code>`.
 */
export type ProxyRefusalCode =
  | 'route_unknown'
  | 'method_not_allowed'
  | 'request_invalid'
  | 'key_unknown'
  | 'vendor_error'
  | 'outcome_unknown'
  | 'internal_error';

const PROFILES: ReadonlyMap<string, VendorProfile> = new Map(DEFAULT_PROFILES.map((p) => [p.vendor, p]));

/**
 * A refusal in the vendor's own error shape and status, so its SDK raises its usual error class
 * (and Stripe's does not retry: `Stripe-Should-Retry: false`). Without a vendor (an unknown route)
 * a plain `{ error: { code, message } }`. The message is ours: it never repeats the request.
 */
export function proxyRefusal(
  vendor: string | undefined,
  status: number,
  code: ProxyRefusalCode,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const profile = vendor === undefined ? undefined : PROFILES.get(vendor);
  const shaped = profile?.errorResponse(status, code, message) ?? {
    body: { error: { code: `spendguard_${code}`, message } },
  };
  return new Response(JSON.stringify(shaped.body), {
    status,
    headers: {
      'content-type': 'application/json',
      'spendguard-decision': code,
      ...shaped.headers,
      ...headers,
    },
  });
}
