import {
  createHandle,
  type FakeRequest,
  type FakeResponse,
  type Handle,
  jsonResponse,
  type Operation,
} from '../engine.ts';
import { type FakeVendor, withTransports } from '../fake-vendor.ts';
import { Faults } from '../faults.ts';
import { twilioSid } from '../ids.ts';
import { countSegments } from './segments.ts';
import { type SentMessage, TwilioLedger, type TwilioParams } from './twilio-ledger.ts';

export const TWILIO_ORIGIN = 'https://api.twilio.com';
const API_VERSION = '2010-04-01';
const MAX_BODY_CHARS = 1600;

export interface FakeTwilioOptions {
  /** The account clients authenticate as and address in the URL. Default: `'AC' + 32 zeros`. */
  accountSid?: string;
  /** The account's auth token (the Basic-auth password). Default: `'spendguard_test_auth_token'`. */
  authToken?: string;
  /** Price per segment that a later fetch reports (the create response has `price: null`). Default: `'0.0079'`. */
  pricePerSegment?: string;
  /** Default: `'USD'`. */
  priceUnit?: string;
  /** The clock in ms since the epoch, for dates. Default: `Date.now`. */
  now?: () => number;
}

export interface FakeTwilio extends FakeVendor<TwilioLedger> {
  readonly accountSid: string;
  readonly authToken: string;
}

/**
 * A fake Twilio Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and fetching a
 * message back. Like Twilio it has no idempotency: every accepted create sends a message.
 */
export function createFakeTwilio(options: FakeTwilioOptions = {}): FakeTwilio {
  const accountSid = options.accountSid ?? `AC${'0'.repeat(32)}`;
  const authToken = options.authToken ?? 'spendguard_test_auth_token';
  const now = options.now ?? Date.now;
  const price = { perSegment: Number(options.pricePerSegment ?? '0.0079'), unit: options.priceUnit ?? 'USD' };
  const ledger = new TwilioLedger();
  const faults = new Faults();
  const resources = new Map<string, Record<string, unknown>>();
  const base = `/${API_VERSION}/Accounts/${accountSid}`;

  const createMessage = (params: TwilioParams): FakeResponse => {
    const one = (name: string): string | undefined => {
      const value = params[name];
      const text = Array.isArray(value) ? value[value.length - 1] : value;
      return text === '' ? undefined : text;
    };
    const to = one('To');
    const from = one('From');
    const service = one('MessagingServiceSid');
    const body = one('Body') ?? '';
    const media = [params.MediaUrl ?? []].flat().filter((u) => u !== '');
    if (to === undefined) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!/^(\+[1-9]\d{6,14}|[a-z]+:.+)$/.test(to)) {
      return twilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`);
    }
    if (from === undefined && service === undefined) {
      return twilioError(400, 21603, "A 'From' phone number is required.");
    }
    if (body === '' && media.length === 0 && one('ContentSid') === undefined) {
      return twilioError(400, 21602, 'Message body is required.');
    }
    if ([...body].length > MAX_BODY_CHARS) {
      return twilioError(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    }
    const { encoding, segments } = countSegments(body);
    const sid = twilioSid('SM');
    const message: SentMessage = {
      sid,
      accountSid,
      to,
      from: from ?? null,
      messagingServiceSid: service ?? null,
      body,
      encoding,
      numSegments: segments,
      mediaUrls: media,
      at: now(),
    };
    ledger.send(message);
    const date = rfc2822(now());
    const resource: Record<string, unknown> = {
      account_sid: accountSid,
      api_version: API_VERSION,
      body,
      date_created: date,
      date_sent: null,
      date_updated: date,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: message.from,
      messaging_service_sid: message.messagingServiceSid,
      num_media: String(media.length),
      num_segments: String(message.numSegments),
      price: null,
      price_unit: price.unit,
      sid,
      // A Messaging Service without a From picks the sender later.
      status: from === undefined ? 'accepted' : 'queued',
      subresource_uris: { media: `${base}/Messages/${sid}/Media.json` },
      to,
      uri: `${base}/Messages/${sid}.json`,
    };
    resources.set(sid, resource);
    return jsonResponse(201, resource);
  };

  const fetchMessage = (sid: string): FakeResponse => {
    const resource = resources.get(sid);
    if (!resource) return notFound(`${base}/Messages/${sid}.json`);
    // Fetched later, the message has gone out and been priced.
    const segments = Number(resource.num_segments);
    const date = rfc2822(now());
    Object.assign(resource, {
      status: 'sent',
      date_sent: resource.date_sent ?? date,
      date_updated: date,
      price: (-segments * price.perSegment).toFixed(5),
    });
    return jsonResponse(200, resource);
  };

  const route = (request: FakeRequest): Operation<TwilioParams> | FakeResponse => {
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages(?:\/([^/]+))?\.json$/.exec(request.path);
    if (!match || match[1] !== accountSid) return notFound(request.path);
    const messageSid = match[2];
    if (request.method === 'POST' && messageSid === undefined) {
      const params = parseTwilioForm(request.body);
      return { params, idempotent: false, act: () => ({ response: createMessage(params), keep: false }) };
    }
    if (request.method === 'GET' && messageSid !== undefined) {
      return {
        params: {},
        idempotent: false,
        act: () => ({ response: fetchMessage(messageSid), keep: false }),
      };
    }
    return twilioError(405, 20004, 'Method not allowed');
  };

  const handle = createHandle<TwilioParams>({
    takeFault: faults.take.bind(faults),
    now,
    authenticate: (request) =>
      basicAuth(request) === `${accountSid}:${authToken}`
        ? undefined
        : twilioError(401, 20003, 'Authenticate', { 'www-authenticate': 'Basic realm="Twilio API"' }),
    credentialOf: (request) => {
      const pair = basicAuth(request) ?? ':';
      const colon = pair.indexOf(':');
      return { user: pair.slice(0, colon), secret: pair.slice(colon + 1) };
    },
    route,
    rateLimited: () => twilioError(429, 20429, 'Too Many Requests'),
    serverError: (status) => twilioError(status, 20500, 'Internal Server Error'),
    record: (entry) => ledger.recordRequest(entry),
  });

  // Every Twilio answer carries a request id.
  const withRequestId: Handle = async (request, signal) => {
    const outcome = await handle(request, signal);
    if (outcome.type !== 'respond') return outcome;
    const headers = { 'twilio-request-id': twilioSid('RQ'), ...outcome.response.headers };
    return { ...outcome, response: { ...outcome.response, headers } };
  };

  return withTransports(TWILIO_ORIGIN, withRequestId, {
    accountSid,
    authToken,
    ledger,
    faults,
    reset() {
      ledger.clear();
      faults.clear();
      resources.clear();
    },
  });
}

/** Twilio's RestException body: `{ code, message, more_info, status }`. */
function twilioError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): FakeResponse {
  return jsonResponse(
    status,
    { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
    headers,
  );
}

function notFound(path: string): FakeResponse {
  return twilioError(404, 20404, `The requested resource ${path} was not found`);
}

function basicAuth(request: FakeRequest): string | undefined {
  const header = request.headers.get('authorization') ?? '';
  const [scheme = '', value = ''] = header.trim().split(/\s+/, 2);
  return scheme.toLowerCase() === 'basic' ? Buffer.from(value, 'base64').toString('utf8') : undefined;
}

/** twilio-node repeats a field for a list (`MediaUrl=a&MediaUrl=b`). */
function parseTwilioForm(body: string): TwilioParams {
  const params: TwilioParams = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const previous = params[key];
    params[key] = previous === undefined ? value : [previous, value].flat();
  }
  return params;
}

/** `Tue, 24 Nov 2026 10:00:00 +0000`, Twilio's date format. */
function rfc2822(ms: number): string {
  return new Date(ms).toUTCString().replace('GMT', '+0000');
}
