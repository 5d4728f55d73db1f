import type { ExecuteDecision } from './decision.ts';
import type { VendorOutcome } from './vendor-errors.ts';

/**
 * The error classes of @spendguard/core. Decisions about calls are values (see decision.ts);
 * these are for misconfiguration, bad input, an unreachable store, a stopped run, and a vendor
 * call that states its own outcome.
 *
 * Check them with `SpendguardError.isInstance(error)` (or a subclass's `isInstance`), not
 * `instanceof`: each class marks its prototype with `Symbol.for` keys, which every installed copy
 * of the package shares, so an error thrown by one copy is recognised by another.
 */
export type SpendguardErrorCode =
  | 'policy_invalid'
  | 'policy_unknown'
  | 'key_invalid'
  | 'key_revoked'
  | 'key_expired'
  | 'narrowing_violation'
  | 'credential_missing'
  | 'store_unavailable'
  | 'approval_unknown'
  | 'operation_invalid'
  | 'request_invalid'
  | 'checkpoint_unknown'
  | 'vendor_error'
  | 'outcome_unknown';

/** The marker every spendguard error carries; each subclass adds `spendguard.error.<Class>`. */
const MARKER = 'spendguard.error';

/** The `Symbol.for` key of the spendguard error marker, or of a subclass's. */
function markerOf(subclass?: string): symbol {
  return Symbol.for(subclass === undefined ? MARKER : `${MARKER}.${subclass}`);
}

/** Marks a class's prototype (not enumerable), so its errors are recognised by every installed copy of core. */
function mark(errorClass: { prototype: object }, subclass?: string): void {
  Object.defineProperty(errorClass.prototype, markerOf(subclass), { value: true });
}

/** Whether a value carries the spendguard error marker and, when given, a subclass's marker. */
function isMarked(value: unknown, subclass?: string): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const marks = value as Record<symbol, unknown>;
  return marks[markerOf()] === true && (subclass === undefined || marks[markerOf(subclass)] === true);
}

export class SpendguardError extends Error {
  static {
    mark(SpendguardError);
  }

  readonly code: SpendguardErrorCode;

  constructor(code: SpendguardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpendguardError';
    this.code = code;
  }

  /** Whether a value is a spendguard error, from this copy of core or any other installed one. */
  static isInstance(value: unknown): value is SpendguardError {
    return isMarked(value);
  }
}

/** A policy document that does not parse or does not match the schema. */
export class PolicyError extends SpendguardError {
  static {
    mark(PolicyError, 'PolicyError');
  }

  /** The file the policy came from, when it came from a file. */
  readonly file: string | undefined;
  /** Each problem: the path in the document and what is wrong there. */
  readonly issues: readonly { path: string; message: string; line?: number }[];

  constructor(
    file: string | undefined,
    issues: readonly { path: string; message: string; line?: number }[],
    options?: { cause?: unknown },
  ) {
    const where = file ?? 'policy';
    const lines = issues.map(
      (i) => `  ${i.path || '(root)'}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`,
    );
    super('policy_invalid', `Invalid policy in ${where}:\n${lines.join('\n')}`, options);
    this.name = 'PolicyError';
    this.file = file;
    this.issues = issues;
  }

  static override isInstance(value: unknown): value is PolicyError {
    return isMarked(value, 'PolicyError');
  }
}

/** The store could not be reached or failed mid-operation; nothing was half-written. */
export class StoreUnavailableError extends SpendguardError {
  static {
    mark(StoreUnavailableError, 'StoreUnavailableError');
  }

  constructor(message: string, options?: { cause?: unknown }) {
    super('store_unavailable', message, options);
    this.name = 'StoreUnavailableError';
  }

  static override isInstance(value: unknown): value is StoreUnavailableError {
    return isMarked(value, 'StoreUnavailableError');
  }
}

/**
 * A request that cannot be decoded safely: a body past a size bound, a param name that is not
 * well-formed or walks into a prototype, too deep, too many params or array items. `param` names
 * the offending param when there is one.
 */
export class RequestInvalidError extends SpendguardError {
  static {
    mark(RequestInvalidError, 'RequestInvalidError');
  }

  readonly param: string | undefined;

  constructor(message: string, param?: string) {
    super('request_invalid', message);
    this.name = 'RequestInvalidError';
    this.param = param;
  }

  static override isInstance(value: unknown): value is RequestInvalidError {
    return isMarked(value, 'RequestInvalidError');
  }
}

/**
 * The run must stop: its vault key was revoked or expired (the kill switch), or no run key could
 * be derived from the root key (`key_invalid`). Adapters end the run with it in their framework's
 * own way (the AI SDK: the caller's `abortController` is aborted with it).
 */
export class RunStoppedError extends SpendguardError {
  static {
    mark(RunStoppedError, 'RunStoppedError');
  }

  declare readonly code: 'key_revoked' | 'key_expired' | 'key_invalid';
  /** The decision that stopped the run, when there was one. */
  readonly decision: ExecuteDecision<unknown> | undefined;

  constructor(
    message: string,
    options: { code: RunStoppedError['code']; decision?: ExecuteDecision<unknown>; cause?: unknown },
  ) {
    super(options.code, message, { cause: options.cause });
    this.name = 'RunStoppedError';
    this.decision = options.decision;
  }

  static override isInstance(value: unknown): value is RunStoppedError {
    return isMarked(value, 'RunStoppedError');
  }
}

/**
 * Throw this from a vendor call to state the outcome plainly: `failed` (nothing happened at the
 * vendor, code `vendor_error`) or `unknown` (it may have acted, code `outcome_unknown`).
 */
export class VendorCallError extends SpendguardError {
  static {
    mark(VendorCallError, 'VendorCallError');
  }

  declare readonly code: 'vendor_error' | 'outcome_unknown';
  readonly spendguardOutcome: VendorOutcome;
  readonly status: number | undefined;

  constructor(message: string, options: { outcome: VendorOutcome; status?: number; cause?: unknown }) {
    super(options.outcome === 'failed' ? 'vendor_error' : 'outcome_unknown', message, {
      cause: options.cause,
    });
    this.name = 'VendorCallError';
    this.spendguardOutcome = options.outcome;
    this.status = options.status;
  }

  static override isInstance(value: unknown): value is VendorCallError {
    return isMarked(value, 'VendorCallError');
  }
}
