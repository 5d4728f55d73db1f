/**
 * Headers that describe one connection, not the request (RFC 9110 §7.6.1), or that the outgoing
 * request sets for itself: the vendor host, the length of the body we send, and the encodings
 * (the answer is read, redacted and stored, so our client negotiates its own).
 */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'accept-encoding',
]);

/**
 * The client's headers as they go on to the vendor (the guard then replaces the credential and
 * the idempotency key): everything end to end, such as `Stripe-Version`, `Stripe-Account`,
 * `User-Agent`, `traceparent` and `x-request-id`.
 */
export function forwardedHeaders(incoming: Headers): Headers {
  const named = new Set(
    (incoming.get('connection') ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
  const headers = new Headers();
  for (const [name, value] of incoming) {
    if (!NOT_FORWARDED.has(name) && !named.has(name)) headers.append(name, value);
  }
  return headers;
}
