import {
  type ActResult,
  createHandle,
  type FakeRequest,
  type FakeResponse,
  jsonResponse,
  type Operation,
} from '../engine.ts';
import { type FakeVendor, withTransports } from '../fake-vendor.ts';
import { Faults } from '../faults.ts';
import { IDEMPOTENCY_TTL_MS, IdempotencyStore } from '../idempotency.ts';
import { uuid } from '../ids.ts';
import { ResendLedger, type SentEmail } from './resend-ledger.ts';

export const RESEND_ORIGIN = 'https://api.resend.com';
const MAX_RECIPIENTS = 50;
const MAX_BATCH = 100;
// `jane@example.com` or `Jane <jane@example.com>`.
const ADDRESS = /^(?:[^<>]*<\s*[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+\s*>|[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+)$/;

export interface FakeResendOptions {
  /** The API key clients must send as `Authorization: Bearer …`. Default: `'re_test_spendguard'`. */
  apiKey?: string;
  /** The clock in ms since the epoch: `created_at` and idempotency-key expiry. Default: `Date.now`. */
  now?: () => number;
  /** How long an idempotency key is remembered. Default: 24 h, as at Resend. */
  idempotencyTtlMs?: number;
}

export interface FakeResend extends FakeVendor<ResendLedger> {
  readonly apiKey: string;
}

/** The error body resend-node passes through as `{ error }`: `{ statusCode, name, message }`. */
function resendError(
  statusCode: number,
  name: string,
  message: string,
  headers: Record<string, string> = {},
): FakeResponse {
  return jsonResponse(statusCode, { statusCode, name, message }, headers);
}

type Email = Record<string, unknown>;
type Check =
  | { ok: true; email: Omit<SentEmail, 'id' | 'batch' | 'at' | 'idempotencyKey'> }
  | { ok: false; error: FakeResponse };

/**
 * A fake Resend API: `POST /emails`, `POST /emails/batch` and `GET /emails/:id`, with Resend's
 * Bearer auth, error bodies and `Idempotency-Key` handling (1–256 characters, kept 24 h).
 */
export function createFakeResend(options: FakeResendOptions = {}): FakeResend {
  const apiKey = options.apiKey ?? 're_test_spendguard';
  const now = options.now ?? Date.now;
  const ledger = new ResendLedger();
  const faults = new Faults();
  const keys = new IdempotencyStore({ ttlMs: options.idempotencyTtlMs ?? IDEMPOTENCY_TTL_MS, now });
  const stored = new Map<string, Record<string, unknown>>();

  const send = (
    email: Email,
    checked: Extract<Check, { ok: true }>['email'],
    request: FakeRequest,
    batch: boolean,
  ) => {
    const id = uuid();
    const idempotencyKey = request.headers.get('idempotency-key') ?? undefined;
    ledger.send({ id, ...checked, batch, at: now(), ...(idempotencyKey ? { idempotencyKey } : {}) });
    stored.set(id, {
      object: 'email',
      id,
      from: checked.from,
      to: checked.to,
      cc: checked.cc.length > 0 ? checked.cc : null,
      bcc: checked.bcc.length > 0 ? checked.bcc : null,
      reply_to: email.reply_to === undefined ? null : list(email.reply_to),
      subject: checked.subject,
      html: email.html ?? null,
      text: email.text ?? null,
      created_at: new Date(now()).toISOString(),
      scheduled_at: email.scheduled_at ?? null,
      last_event: email.scheduled_at === undefined ? 'sent' : 'scheduled',
    });
    return id;
  };

  const route = (request: FakeRequest): Operation<unknown> | FakeResponse => {
    const get = /^\/emails\/([^/]+)$/.exec(request.path);
    if (request.method === 'GET' && get && get[1] !== 'batch') {
      const id = decodeURIComponent(get[1] ?? '');
      return {
        params: {},
        idempotent: false,
        act: () => {
          const email = stored.get(id);
          return {
            response: email ? jsonResponse(200, email) : resendError(404, 'not_found', 'Email not found'),
            keep: false,
          };
        },
      };
    }
    if (request.method !== 'POST' || (request.path !== '/emails' && request.path !== '/emails/batch')) {
      return resendError(404, 'not_found', 'The requested endpoint does not exist.');
    }
    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      return resendError(400, 'validation_error', 'The request body is not valid JSON.');
    }
    if (request.path === '/emails') {
      return {
        params: body,
        idempotent: true,
        act: (): ActResult => {
          if (!isObject(body))
            return refused(resendError(422, 'validation_error', 'The body must be an email object.'));
          const check = checkEmail(body);
          if (!check.ok) return refused(check.error);
          return sent(jsonResponse(200, { id: send(body, check.email, request, false) }));
        },
      };
    }
    const permissive = request.headers.get('x-batch-validation') === 'permissive';
    return {
      params: body,
      idempotent: true,
      act: (): ActResult => {
        if (!Array.isArray(body) || body.length === 0 || body.length > MAX_BATCH) {
          return refused(
            resendError(422, 'validation_error', `The body must be an array of 1 to ${MAX_BATCH} emails.`),
          );
        }
        const checks = body.map((email: unknown) =>
          isObject(email)
            ? checkEmail(email)
            : ({
                ok: false,
                error: resendError(422, 'validation_error', 'Each email must be an object.'),
              } as const),
        );
        const failed = checks.findIndex((c) => !c.ok);
        // Strict (the default) sends nothing if any email is invalid; permissive sends the valid ones.
        if (!permissive && failed >= 0) return refused((checks[failed] as { error: FakeResponse }).error);
        const data: { id: string }[] = [];
        const errors: { index: number; message: string }[] = [];
        checks.forEach((check, index) => {
          if (check.ok) data.push({ id: send(body[index] as Email, check.email, request, true) });
          else errors.push({ index, message: (JSON.parse(check.error.body) as { message: string }).message });
        });
        return sent(jsonResponse(200, permissive ? { data, errors } : { data }));
      },
    };
  };

  const handle = createHandle<unknown>({
    takeFault: faults.take.bind(faults),
    now,
    authenticate: (request) => {
      const token = bearerToken(request);
      if (token === undefined) {
        return resendError(
          401,
          'missing_api_key',
          'Missing API key in the authorization header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY',
        );
      }
      return token === apiKey ? undefined : resendError(403, 'invalid_api_key', 'API key is invalid');
    },
    credentialOf: (request) => ({ user: '', secret: bearerToken(request) ?? '' }),
    route,
    rateLimited: () =>
      resendError(
        429,
        'rate_limit_exceeded',
        'Too many requests. You can only make 2 requests per second. See rate limit response headers for more information.',
        { 'ratelimit-limit': '2', 'ratelimit-remaining': '0', 'ratelimit-reset': '1', 'retry-after': '1' },
      ),
    serverError: (status) => resendError(status, 'internal_server_error', 'An unexpected error occurred.'),
    idempotency: {
      store: keys,
      maxKeyLength: 256,
      invalidKey: () =>
        resendError(
          400,
          'invalid_idempotency_key',
          'The idempotency key must be between 1 and 256 characters.',
        ),
      inFlight: () =>
        resendError(
          409,
          'concurrent_idempotent_requests',
          'Same idempotency key used while original request is still in progress. Try the request again later.',
        ),
      mismatch: () =>
        resendError(
          409,
          'invalid_idempotent_request',
          'Same idempotency key used with a different request payload. Change your idempotency key or payload.',
        ),
      replayHeaders: {},
      // The email went out: a retry with the key gets its id, whatever the first answer looked like.
      keepsInjectedFailure: false,
    },
    record: (entry) => ledger.recordRequest(entry),
  });

  return withTransports(RESEND_ORIGIN, handle, {
    apiKey,
    ledger,
    faults,
    reset() {
      ledger.clear();
      faults.clear();
      keys.clear();
      stored.clear();
    },
  });
}

/** The token of `Authorization: Bearer <token>`, if the request has one. */
function bearerToken(request: FakeRequest): string | undefined {
  const [scheme = '', token = ''] = (request.headers.get('authorization') ?? '').trim().split(/\s+/, 2);
  return scheme.toLowerCase() === 'bearer' && token !== '' ? token : undefined;
}

function sent(response: FakeResponse): ActResult {
  return { response, keep: true };
}

/** Refused before sending: the key is not consumed. */
function refused(response: FakeResponse): ActResult {
  return { response, keep: false };
}

function isObject(value: unknown): value is Email {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function list(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
}

function checkEmail(email: Email): Check {
  const invalid = (name: string, message: string): Check => ({
    ok: false,
    error: resendError(422, name, message),
  });
  const from = typeof email.from === 'string' ? email.from.trim() : '';
  const to = list(email.to);
  const subject = typeof email.subject === 'string' ? email.subject : '';
  if (from === '') return invalid('missing_required_field', 'Missing `from` field.');
  if (to.length === 0) return invalid('missing_required_field', 'Missing `to` field.');
  if (subject === '' && email.template === undefined) {
    return invalid('missing_required_field', 'Missing `subject` field.');
  }
  if (!ADDRESS.test(from)) {
    return invalid(
      'invalid_from_address',
      'Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.',
    );
  }
  const cc = list(email.cc);
  const bcc = list(email.bcc);
  for (const [field, addresses] of [
    ['to', to],
    ['cc', cc],
    ['bcc', bcc],
  ] as const) {
    if (addresses.length > MAX_RECIPIENTS) {
      return invalid(
        'validation_error',
        `Too many recipients in \`${field}\`: the maximum is ${MAX_RECIPIENTS}.`,
      );
    }
    const bad = addresses.find((a) => !ADDRESS.test(a.trim()));
    if (bad !== undefined) {
      return invalid(
        'validation_error',
        `Invalid \`${field}\` field. The email address needs to follow the \`email@example.com\` or \`Name <email@example.com>\` format.`,
      );
    }
  }
  return { ok: true, email: { from, to, cc, bcc, subject, recipients: to.length + cc.length + bcc.length } };
}
