import { handleVendorRequest, type VendorRequestOptions } from '../front-end/vendor-request.ts';

export type GovernedFetchOptions = VendorRequestOptions;

/**
 * A `fetch` whose every vendor request goes through the guard (`handleVendorRequest`): exactly
 * once, capped, scoped to a vault key and audited. Refusals come back as the vendor's own error
 * responses, so SDKs raise their usual errors.
 */
export function createGovernedFetch(options: GovernedFetchOptions): typeof fetch {
  return async function governedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    return handleVendorRequest(new Request(input, init), options);
  };
}
