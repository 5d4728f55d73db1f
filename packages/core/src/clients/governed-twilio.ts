import twilio from 'twilio';
import { createGovernedFetch, type GovernedFetchOptions } from './governed-fetch.ts';

export interface GovernedTwilioOptions extends Omit<GovernedFetchOptions, 'vendor' | 'hosts'> {
  /** The Account SID (or API key SID) requests are made as; the real secret comes from the policy. */
  accountSid: string;
  /** Options for the Twilio client (`region`, `edge`, …), except `httpClient`. */
  clientOptions?: Omit<twilio.ClientOpts, 'httpClient'>;
}

type TwilioRequest = {
  method: string;
  uri: string;
  username?: string;
  password?: string;
  headers?: Record<string, string>;
  params?: Record<string, unknown>;
  data?: Record<string, unknown>;
  timeout?: number;
};

const RUN_BOUND = 'spendguard_run_bound';

/** Twilio's form encoding: arrays repeat their key (`MediaUrl=a&MediaUrl=b`). */
function form(values: Record<string, unknown> | undefined): URLSearchParams {
  const out = new URLSearchParams();
  for (const [name, value] of Object.entries(values ?? {})) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) out.append(name, String(item));
  }
  return out;
}

/**
 * A real Twilio client whose HTTP goes through the guard, by the client's `httpClient` option.
 * Bound to `key` (used as the auth token it sends), or to the current run binding at each call.
 */
export function createGovernedTwilio(options: GovernedTwilioOptions): twilio.Twilio {
  const { accountSid, clientOptions, ...fetchOptions } = options;
  const governed = createGovernedFetch({ ...fetchOptions, vendor: 'twilio' });
  const httpClient = {
    async request(opts: TwilioRequest) {
      const url = new URL(opts.uri);
      for (const [name, value] of form(opts.params)) url.searchParams.append(name, value);
      const headers = new Headers(opts.headers);
      if (opts.username) {
        const pair = `${opts.username}:${opts.password ?? ''}`;
        headers.set('authorization', `Basic ${Buffer.from(pair).toString('base64')}`);
      }
      const method = opts.method.toUpperCase();
      const response = await governed(url, {
        method,
        headers,
        ...(method !== 'GET' && opts.data && { body: form(opts.data).toString() }),
        ...(opts.timeout && { signal: AbortSignal.timeout(opts.timeout) }),
      });
      return {
        statusCode: response.status,
        body: await response.text(),
        headers: Object.fromEntries(response.headers),
      };
    },
  };
  return twilio(accountSid, options.key ?? RUN_BOUND, {
    ...clientOptions,
    httpClient: httpClient as unknown as twilio.ClientOpts['httpClient'],
  });
}
