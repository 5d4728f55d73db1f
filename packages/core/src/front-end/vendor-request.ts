import type { ExecuteDecision } from '../decision.ts';
import { RequestInvalidError, SpendguardError, VendorCallError } from '../errors.ts';
import type { Guard } from '../guard.ts';
import type { Attribution } from '../operation.ts';
import { currentRun } from '../run-binding.ts';
import { scrubbedError } from '../scrubbed-error.ts';
import { TOKEN_PREFIX } from '../vault-keys.ts';
import { DEFAULT_PROFILES } from '../vendors/default-profiles.ts';
import { decodeFormParams } from '../vendors/form-params.ts';
import type { VendorProfile } from '../vendors/vendor-profile.ts';
import { denialStatus } from './denial-status.ts';
import { NO_VAULT_KEY } from './model-sentences.ts';

export interface VendorRequestOptions extends Attribution {
  guard: Guard;
  /**
   * The vault key every request is made with. Default: the key the request carries (as its
   * Bearer token or Basic password), else the current run binding's key.
   */
  key?: string;
  /** Treat every request as this vendor's (a client for one vendor). Default: by host. */
  vendor?: string;
  /** More `host` → vendor names, e.g. `{ '127.0.0.1:4242': 'stripe' }` for a fake vendor. */
  hosts?: Readonly<Record<string, string>>;
  /** Send requests to this origin instead of the one in their URL (a fake vendor, a gateway). */
  upstream?: string;
  /** The fetch that reaches the vendor. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Vendor profiles. Default: Stripe, Twilio and Resend. */
  profiles?: readonly VendorProfile[];
  /**
   * A business key for this request (a proxy passes the client's own `Idempotency-Key` when the
   * operator trusts it): the checkpoint key instead of the content hash. Default: none.
   */
  idempotencyKey?: string;
  /**
   * The request's body as text, when the caller has read it already (a proxy reads it to check
   * it): used instead of reading `request`'s body. Default: read from the request.
   */
  body?: string;
}

/** What is stored for a vendor answer, and replayed from it. */
interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Response headers worth keeping with a stored answer. */
const KEPT_HEADERS = [
  'content-type',
  'request-id',
  'stripe-version',
  'idempotent-replayed',
  'twilio-request-id',
];

/**
 * One vendor request through the guard, answered as the vendor would answer it: exactly once,
 * capped, scoped to a vault key and audited. The request's own credentials are replaced by the
 * real one, and the checkpoint's idempotency key is sent in the vendor's header. Refusals come
 * back as the vendor's own error responses, so SDKs raise their usual errors. A governed `fetch`
 * and a proxy mount this same function.
 */
export async function handleVendorRequest(
  request: Request,
  options: VendorRequestOptions,
): Promise<Response> {
  const { profiles, byHost } = vendorsOf(options);
  const url = new URL(request.url);
  const vendor = options.vendor ?? byHost.get(url.host) ?? byHost.get(url.hostname);
  const profile = vendor === undefined ? undefined : profiles.get(vendor);
  if (!vendor || !profile) {
    throw new SpendguardError(
      'operation_invalid',
      `no vendor profile for ${url.host}: name it with the governed fetch's \`vendor\` or \`hosts\` option`,
    );
  }
  const send = options.fetch ?? globalThis.fetch;
  // The guard knows every secret it handed out; whatever the vendor sends back passes through this.
  const redact = (text: string) => options.guard.redact(text);
  const target = options.upstream ? new URL(url.pathname + url.search, options.upstream) : url;
  const body =
    request.method === 'GET' || request.method === 'HEAD' ? '' : (options.body ?? (await request.text()));
  const contentType = request.headers.get('content-type');
  // Query and body are untrusted: a body that can't be decoded safely is still put to the guard,
  // which refuses it (`request_invalid`, audited under the key) before any policy work.
  let params: Record<string, unknown> = Object.create(null);
  let invalidRequest: string | undefined;
  try {
    Object.assign(params, decodeFormParams(url.searchParams), profile.readParams(contentType, body));
  } catch (error) {
    if (!RequestInvalidError.isInstance(error)) throw error;
    invalidRequest = error.message;
    params = Object.create(null);
  }
  const binding = currentRun();
  const key = options.key ?? vaultTokenOf(request.headers) ?? binding?.key;
  if (!key) return refusal(profile, 'key_unknown', NO_VAULT_KEY);

  /** A GET through the same transport, with the real credential, for profiles that price from an object. */
  const lookup = async (path: string, credential: string): Promise<unknown> => {
    const headers = new Headers({
      accept: 'application/json',
      authorization: request.headers.get('authorization') ?? '',
    });
    profile.authorize(headers, credential);
    const answer = await send(new URL(path, target), { headers, signal: request.signal });
    if (!answer.ok) throw new Error(`GET ${path} answered HTTP ${answer.status}`);
    return answer.json();
  };

  let vendorAnswer: StoredResponse | undefined;
  let transportError: unknown;
  const decision: ExecuteDecision<StoredResponse> = await options.guard.execute<StoredResponse>(
    {
      key,
      vendor,
      account: profile.accountOf?.(request.headers, url.pathname),
      method: request.method,
      path: url.pathname,
      params,
      lookup,
      idempotencyKey: options.idempotencyKey,
      runId: options.runId ?? binding?.runId,
      agentId: options.agentId ?? binding?.agentId,
      toolCallId: options.toolCallId ?? binding?.toolCallId,
      traceId: options.traceId ?? binding?.traceId,
      approvedBy: binding?.approvedBy,
      ...(invalidRequest !== undefined && { invalidRequest }),
    },
    async ({ idempotencyKey, credential }) => {
      const headers = new Headers(request.headers);
      profile.authorize(headers, credential);
      if (profile.idempotencyHeader) headers.set(profile.idempotencyHeader, idempotencyKey);
      let response: Response;
      try {
        response = await send(target, {
          method: request.method,
          headers,
          ...(body && { body }),
          signal: request.signal,
        });
      } catch (error) {
        transportError = error;
        throw error;
      }
      // Redacted as it arrives: a failed call's answer goes back to the SDK as it is, and a
      // successful one is stored and replayed.
      vendorAnswer = {
        status: response.status,
        headers: keptHeaders(response.headers, redact),
        body: redact(await response.text()),
      };
      if (!response.ok) throw httpError(response.status);
      return vendorAnswer;
    },
    {
      settle: (answer, estimate) => ({
        ...profile.settle(
          { method: request.method, path: url.pathname, params },
          parseJson(answer.body),
          estimate,
        ),
        upstreamStatus: answer.status,
      }),
    },
  );

  switch (decision.decision) {
    case 'executed':
    case 'replayed':
      return toResponse(decision.result, { 'spendguard-decision': decision.code });
    case 'failed':
      // The vendor's own answer or transport error, so the SDK reacts as it always does.
      if (vendorAnswer) return toResponse(vendorAnswer, { 'spendguard-decision': decision.code });
      if (transportError !== undefined) throw scrubbedError(transportError, redact);
      return refusal(
        profile,
        decision.code === 'outcome_unknown' ? 'outcome_unknown' : 'vendor_error',
        decision.message,
        decision.error.status,
      );
    case 'needs_approval':
      return refusal(profile, 'approval_required', decision.message, undefined, {
        'spendguard-approval-id': decision.approvalId,
      });
    case 'denied':
      return refusal(profile, decision.code, decision.message);
  }
}

type Vendors = { profiles: Map<string, VendorProfile>; byHost: Map<string, string> };
/** The default profiles' maps, made once: most callers (the proxy, governed clients) use them. */
let defaultVendors: Vendors | undefined;

/** The profiles by vendor name and the vendor names by host; a later profile or `hosts` entry wins. */
function vendorsOf(options: VendorRequestOptions): Vendors {
  if (options.profiles === undefined && options.hosts === undefined) {
    defaultVendors ??= vendorMaps({});
    return defaultVendors;
  }
  return vendorMaps(options);
}

function vendorMaps(options: Pick<VendorRequestOptions, 'profiles' | 'hosts'>): Vendors {
  const profiles = new Map((options.profiles ?? DEFAULT_PROFILES).map((p) => [p.vendor, p]));
  const byHost = new Map<string, string>();
  for (const profile of profiles.values()) for (const host of profile.hosts) byHost.set(host, profile.vendor);
  for (const [host, vendor] of Object.entries(options.hosts ?? {})) byHost.set(host, vendor);
  return { profiles, byHost };
}

/**
 * A non-2xx vendor answer, thrown inside the pipeline so it is classified and settled as a failure.
 * A 4xx answer means the vendor did not act. A 5xx or 408 may hide an act; a 409 says a request
 * with this idempotency key is still running at the vendor, so it may act yet.
 */
function httpError(status: number): VendorCallError {
  const outcome = status >= 500 || status === 408 || status === 409 ? 'unknown' : 'failed';
  return new VendorCallError(`the vendor answered HTTP ${status}`, { outcome, status });
}

/** The vault token a request carries: a Bearer token, or the password of Basic auth. */
function vaultTokenOf(headers: Headers): string | undefined {
  const auth = headers.get('authorization') ?? '';
  let token: string | undefined;
  if (auth.startsWith('Bearer ')) token = auth.slice(7).trim();
  else if (auth.startsWith('Basic ')) {
    const pair = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    token = pair.slice(pair.indexOf(':') + 1);
  }
  return token?.startsWith(TOKEN_PREFIX) ? token : undefined;
}

function refusal(
  profile: VendorProfile,
  code: Parameters<typeof denialStatus>[0] | 'vendor_error',
  message: string,
  status = code === 'vendor_error' ? 502 : denialStatus(code),
  extra: Record<string, string> = {},
): Response {
  const { body, headers } = profile.errorResponse(status, code, message);
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'spendguard-decision': code, ...headers, ...extra },
  });
}

function toResponse(stored: unknown, extra: Record<string, string>): Response {
  if (isStoredResponse(stored)) {
    return new Response(stored.body, { status: stored.status, headers: { ...stored.headers, ...extra } });
  }
  // The same call made earlier through `guard.execute`, which stored what its function returned
  // (the vendor's object, as its SDK gave it): answered as the vendor's JSON body.
  return new Response(JSON.stringify(stored ?? null), {
    status: 200,
    headers: { 'content-type': 'application/json', ...extra },
  });
}

function isStoredResponse(value: unknown): value is StoredResponse {
  if (typeof value !== 'object' || value === null) return false;
  const { status, headers, body } = value as Partial<StoredResponse>;
  return (
    Number.isInteger(status) &&
    (status as number) >= 200 &&
    (status as number) <= 599 &&
    typeof headers === 'object' &&
    headers !== null &&
    Object.values(headers).every((v) => typeof v === 'string') &&
    typeof body === 'string'
  );
}

function keptHeaders(headers: Headers, redact: (text: string) => string): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = headers.get(name);
    if (value !== null) kept[name] = redact(value);
  }
  return kept;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
