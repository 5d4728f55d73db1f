/**
 * The error classes of @spendguard/core. Decisions about calls are values (see decision.ts);
 * these are for misconfiguration, bad input and an unreachable store.
 */
export type SpendguardErrorCode =
  | 'policy_invalid'
  | 'policy_unknown'
  | 'key_invalid'
  | 'narrowing_violation'
  | 'credential_missing'
  | 'store_unavailable'
  | 'approval_unknown'
  | 'operation_invalid'
  | 'request_invalid'
  | 'checkpoint_unknown';

export class SpendguardError extends Error {
  readonly code: SpendguardErrorCode;

  constructor(code: SpendguardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpendguardError';
    this.code = code;
  }
}

/** A policy document that does not parse or does not match the schema. */
export class PolicyError extends SpendguardError {
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
}

/** The store could not be reached or failed mid-operation; nothing was half-written. */
export class StoreUnavailableError extends SpendguardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('store_unavailable', message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * A request that cannot be decoded safely: a body past a size bound, a param name that is not
 * well-formed or walks into a prototype, too deep, too many params or array items. `param` names
 * the offending param when there is one.
 */
export class RequestInvalidError extends SpendguardError {
  readonly param: string | undefined;

  constructor(message: string, param?: string) {
    super('request_invalid', message);
    this.name = 'RequestInvalidError';
    this.param = param;
  }
}
