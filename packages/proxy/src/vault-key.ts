import { TOKEN_PREFIX } from '@spendguard/core';

/** A vault token: the prefix and a bounded run of URL-safe characters. */
const VAULT_TOKEN = new RegExp(`^${TOKEN_PREFIX}[A-Za-z0-9_-]{1,250}$`);

/**
 * The vault token a request carries where its vendor's SDK puts the secret: a Bearer token
 * (Stripe, Resend), or Basic auth — the password (Twilio: Account SID and token), or the user
 * when the password is empty (`curl -u key:`, as Stripe's docs show). Anything else, a real
 * vendor secret included, is no vault key: it is refused and never sent on.
 */
export function vaultTokenOf(authorization: string | null): string | undefined {
  if (authorization === null) return undefined;
  let token: string | undefined;
  if (/^Bearer /i.test(authorization)) token = authorization.slice(7).trim();
  else if (/^Basic /i.test(authorization)) {
    const pair = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = pair.indexOf(':');
    if (colon !== -1) token = colon === pair.length - 1 ? pair.slice(0, colon) : pair.slice(colon + 1);
  }
  return token !== undefined && VAULT_TOKEN.test(token) ? token : undefined;
}

/** Every vault token in a text, for scrubbing what is logged or answered. */
export const VAULT_TOKENS = new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]*`, 'g');

/**
 * Whether a vault token appears anywhere but the Authorization header: in the path, the query,
 * another header or the body. Such a request is refused, so that a vendor never holds a vault
 * key (in an object's metadata, its request logs) nor echoes one back.
 */
export function carriesVaultToken(url: URL, headers: Headers, body: Uint8Array | undefined): boolean {
  if (url.pathname.includes(TOKEN_PREFIX) || url.search.includes(TOKEN_PREFIX)) return true;
  for (const [name, value] of headers) {
    if (name !== 'authorization' && value.includes(TOKEN_PREFIX)) return true;
  }
  return (
    body !== undefined && Buffer.from(body.buffer, body.byteOffset, body.byteLength).includes(TOKEN_PREFIX)
  );
}
