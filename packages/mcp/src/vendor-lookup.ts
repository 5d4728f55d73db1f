import { type ExecuteRequest, readBoundedBody } from '@spendguard/core';

/** The real API origins lookups read from, when no other is given. */
export const DEFAULT_LOOKUP_ORIGINS: Readonly<Record<string, string>> = { stripe: 'https://api.stripe.com' };

/** The largest object a lookup reads (a Stripe object is a few KiB). */
const MAX_LOOKUP_BYTES = 1024 * 1024;

export interface LookupOptions {
  /** Vendor → origin to read objects from. Only vendors named here are read (Bearer auth). */
  origins: ReadonlyMap<string, string>;
  /** How long one read may take. */
  timeoutMs: number;
  /** The fetch to read with. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/**
 * The `lookup` core's profiles price from (a refund without `amount` reads the payment first):
 * a GET of the vendor's API with the real credential, which core hands it. The MCP tool call
 * itself goes to the upstream MCP server; this read goes straight to the API, so the key needs
 * read access to what is priced (payment intents, charges, prices, invoices). Bounded in time and
 * size; it follows no redirect. Undefined for a vendor without an origin: its profile gets none.
 */
export function vendorLookup(
  vendor: string,
  account: string | undefined,
  options: LookupOptions,
): ExecuteRequest['lookup'] {
  const origin = options.origins.get(vendor);
  if (origin === undefined) return undefined;
  const send = options.fetch ?? globalThis.fetch;
  return async (path, credential) => {
    if (!path.startsWith('/') || path.startsWith('//'))
      throw new Error('a lookup path must start with one /');
    const headers = new Headers({ accept: 'application/json', authorization: `Bearer ${credential}` });
    // An object of a connected account is read as that account.
    if (account !== undefined && vendor === 'stripe') headers.set('stripe-account', account);
    const response = await send(new URL(path, origin), {
      headers,
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`GET ${path} answered HTTP ${response.status}`);
    }
    return JSON.parse(await boundedText(response, MAX_LOOKUP_BYTES)) as unknown;
  };
}

async function boundedText(response: Response, limit: number): Promise<string> {
  const bytes = await readBoundedBody(response.body, limit);
  if (!bytes) throw new Error(`the object is larger than ${limit} bytes`);
  return Buffer.from(bytes).toString('utf8');
}
