import {
  DEFAULT_TIMEOUT_FAULT_MS,
  type EchoEncoding,
  type FaultKind,
  type FaultRequest,
  type StripeFault,
} from './faults.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { sleep } from './sleep.ts';

/** A request as the fakes see it, whichever transport (node:http or msw) brought it. */
export interface FakeRequest {
  method: string;
  /** The URL path, without the query. */
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: string;
}

export interface FakeResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What the transport does: answer (possibly after a delay), or drop the connection. */
export type Outcome = { type: 'respond'; response: FakeResponse; delayMs: number } | { type: 'reset' };

export type Handle = (request: FakeRequest, signal: AbortSignal) => Promise<Outcome>;

/** One request the fake saw, in the order they finished. */
export interface RequestRecord<P = unknown> {
  method: string;
  path: string;
  /** The `Idempotency-Key` header, when one was sent (even where the vendor ignores it). */
  idempotencyKey?: string;
  /** The status the fake produced. With `reset_after_act` the client never saw it. */
  status: number;
  /** The parsed body: form fields as strings (Stripe, Twilio) or the JSON (Resend). */
  params: P;
  /** True when the answer was an idempotent replay of an earlier one. */
  replayed: boolean;
  /** The fault applied to this request, if any. */
  fault?: FaultKind;
  /** When it finished, from the fake's clock (ms since the epoch). */
  at: number;
}

/** What a vendor's logic produced for one request. */
export interface ActResult {
  response: FakeResponse;
  /** Whether the idempotency layer stores this answer for replay (false for validation failures). */
  keep: boolean;
}

export interface Operation<P> {
  params: P;
  /** Whether the vendor's idempotency layer looks at this request's key. */
  idempotent: boolean;
  /** Does the work. Synchronous, so one request's changes are atomic. */
  act(request: FaultRequest): ActResult;
}

export interface IdempotencyRules {
  store: IdempotencyStore;
  maxKeyLength: number;
  invalidKey(key: string): FakeResponse;
  inFlight(key: string): FakeResponse;
  mismatch(key: string): FakeResponse;
  /** Headers added to a replayed answer. */
  replayHeaders: Record<string, string>;
  /**
   * Whether a `fail_after_act` 5xx replaces the stored answer. Stripe stores what it sent, 5xx
   * included, so a retry with the same key gets the 500 again.
   */
  keepsInjectedFailure: boolean;
}

/** The credential an authenticated request carried: the Basic-auth user (or '') and the secret. */
export interface ReceivedCredential {
  user: string;
  secret: string;
}

export interface VendorSpec<P> {
  /** Takes one use of the first armed fault of one of `kinds` that matches (see `Faults.take`). */
  takeFault(request: FaultRequest, kinds: readonly FaultKind[]): StripeFault | undefined;
  now: () => number;
  /** An error answer when the credentials are missing or wrong; undefined when they are right. */
  authenticate(request: FakeRequest): FakeResponse | undefined;
  /** The credential a request that passed `authenticate` carried, for `echo_credential`. */
  credentialOf(request: FakeRequest): ReceivedCredential;
  /** The operation for this request, or an error answer (unknown route, unreadable body). */
  route(request: FakeRequest): Operation<P> | FakeResponse;
  rateLimited(): FakeResponse;
  serverError(status: number): FakeResponse;
  idempotency?: IdempotencyRules;
  record(entry: RequestRecord<P | undefined>): void;
}

const AFTER_ACT_FAULTS = ['fail_after_act', 'reset_after_act', 'timeout_after_act'] as const;

export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): FakeResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * The request pipeline shared by the fakes: authenticate → route → rate-limit fault → claim the
 * idempotency key (409 in flight, mismatch, or replay) → latency fault → act → store or release
 * the key → after-act fault.
 */
export function createHandle<P>(spec: VendorSpec<P>): Handle {
  return async (request, signal) => {
    const idempotencyKey = request.headers.get('idempotency-key') ?? undefined;
    const base = { method: request.method, path: request.path, idempotencyKey };
    const finish = (
      response: FakeResponse,
      params: P | undefined,
      extra: { replayed?: boolean; fault?: FaultKind } = {},
    ): void => {
      spec.record({
        ...base,
        status: response.status,
        params,
        replayed: extra.replayed ?? false,
        ...(extra.fault ? { fault: extra.fault } : {}),
        at: spec.now(),
      });
    };
    const respond = (response: FakeResponse, delayMs = 0): Outcome => ({
      type: 'respond',
      response,
      delayMs,
    });

    const denied = spec.authenticate(request);
    if (denied) {
      finish(denied, undefined);
      return respond(denied);
    }
    const operation = spec.route(request);
    if (!('act' in operation)) {
      finish(operation, undefined);
      return respond(operation);
    }
    const faultRequest: FaultRequest = { ...base, params: operation.params };
    const echoFault = spec.takeFault(faultRequest, ['echo_credential']);
    const echo = (response: FakeResponse): FakeResponse =>
      echoFault?.kind === 'echo_credential'
        ? withEcho(response, encodeCredential(spec.credentialOf(request), echoFault.encoding))
        : response;
    if (spec.takeFault(faultRequest, ['rate_limit'])) {
      // Refused before the idempotency layer: nothing stored under the key.
      const limited = echo(spec.rateLimited());
      finish(limited, operation.params, { fault: 'rate_limit' });
      return respond(limited);
    }

    const rules = operation.idempotent ? spec.idempotency : undefined;
    const key = rules ? idempotencyKey : undefined;
    let replay: FakeResponse | undefined;
    if (rules && key !== undefined) {
      if (key.length < 1 || key.length > rules.maxKeyLength) {
        const invalid = rules.invalidKey(key);
        finish(invalid, operation.params);
        return respond(invalid);
      }
      const claim = rules.store.claim(key, fingerprint(request, operation.params));
      if (claim.type === 'in_flight' || claim.type === 'mismatch') {
        const conflict = echo(claim.type === 'in_flight' ? rules.inFlight(key) : rules.mismatch(key));
        finish(conflict, operation.params);
        return respond(conflict);
      }
      if (claim.type === 'replay') {
        replay = { ...claim.response, headers: { ...claim.response.headers, ...rules.replayHeaders } };
      }
    }

    // A fresh claim must end stored or released, even if a `match` callback or the act throws.
    const claimed = rules && key !== undefined && !replay ? key : undefined;
    let response: FakeResponse;
    let fault: StripeFault | undefined;
    let applied: FaultKind | undefined;
    try {
      // Taken only now, so a request refused above (409, mismatch) does not spend a fault.
      const latencyFault = spec.takeFault(faultRequest, ['latency']);
      const latency = latencyFault?.kind === 'latency' ? latencyFault : undefined;
      fault = spec.takeFault(faultRequest, AFTER_ACT_FAULTS);
      applied = fault?.kind ?? latency?.kind ?? echoFault?.kind;
      // The key stays in flight while waiting, as it does at the vendor while a request runs.
      if (latency) await sleep(latency.ms, signal);
      const failure =
        fault?.kind === 'fail_after_act' ? echo(spec.serverError(fault.status ?? 500)) : undefined;
      if (replay) {
        response = failure ?? echo(replay);
      } else {
        const result = operation.act(faultRequest);
        // Echoed before it is stored: the vendor keeps the answer it wrote.
        const answer = echo(result.response);
        response = failure ?? answer;
        const kept = result.keep ? (failure && rules?.keepsInjectedFailure ? failure : answer) : undefined;
        if (claimed !== undefined) {
          if (kept) rules?.store.complete(claimed, kept);
          else rules?.store.release(claimed);
        }
      }
    } catch (error) {
      if (claimed !== undefined) rules?.store.release(claimed);
      throw error;
    }

    finish(response, operation.params, {
      replayed: replay !== undefined,
      ...(applied ? { fault: applied } : {}),
    });
    if (fault?.kind === 'reset_after_act') return { type: 'reset' };
    if (fault?.kind === 'timeout_after_act') return respond(response, fault.ms ?? DEFAULT_TIMEOUT_FAULT_MS);
    return respond(response);
  };
}

/** The credential written in one of `echo_credential`'s encodings. */
export function encodeCredential(credential: ReceivedCredential, encoding: EchoEncoding): string {
  switch (encoding) {
    case 'raw':
      return credential.secret;
    case 'url':
      return encodeURIComponent(credential.secret);
    case 'base64':
      return Buffer.from(credential.secret).toString('base64');
    case 'basic':
      return Buffer.from(`${credential.user}:${credential.secret}`).toString('base64');
  }
}

/**
 * The answer with `text` in its body: appended to an error's message (Stripe nests it under
 * `error`), or as the `credential_echo` field of a successful answer.
 */
function withEcho(response: FakeResponse, text: string): FakeResponse {
  const body = JSON.parse(response.body) as Record<string, unknown>;
  if (response.status >= 400) {
    const error = isRecord(body.error) ? body.error : body;
    const said = typeof error.message === 'string' ? `${error.message} ` : '';
    error.message = `${said}(credential received: ${text})`;
  } else {
    body.credential_echo = text;
  }
  return { ...response, body: JSON.stringify(body) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What "the same request" means for idempotency: the same method, path and parameters. */
function fingerprint(request: FakeRequest, params: unknown): string {
  return `${request.method} ${request.path} ${canonicalJson(params)}`;
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
