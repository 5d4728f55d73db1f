import { SpendguardError } from '@spendguard/core';

/** The codes of the admin API's errors, stable for scripts: `{ error: { code, message } }`. */
export type AdminErrorCode =
  | 'unauthorized'
  | 'not_found'
  | 'method_not_allowed'
  | 'request_invalid'
  | 'key_unknown'
  | 'approval_unknown'
  | 'checkpoint_unknown'
  | 'conflict'
  | 'store_unavailable'
  | 'internal_error';

/** An admin request that cannot be served, with the HTTP status it is answered with. */
export class AdminError extends Error {
  readonly code: AdminErrorCode;
  readonly status: number;

  constructor(status: number, code: AdminErrorCode, message: string) {
    super(message);
    this.name = 'AdminError';
    this.status = status;
    this.code = code;
  }
}

/** Core's errors as the admin API answers them; anything else is an internal error, said without detail. */
export function toAdminError(error: unknown, redact: (text: string) => string): AdminError {
  if (error instanceof AdminError) return error;
  if (SpendguardError.isInstance(error)) {
    const message = redact(error.message);
    switch (error.code) {
      case 'approval_unknown':
        return new AdminError(404, 'approval_unknown', message);
      case 'checkpoint_unknown':
        return new AdminError(404, 'checkpoint_unknown', message);
      case 'store_unavailable':
        return new AdminError(503, 'store_unavailable', message);
      case 'key_revoked':
      case 'key_expired':
        return new AdminError(409, 'conflict', message);
      case 'policy_unknown':
      case 'policy_invalid':
      case 'key_invalid':
      case 'narrowing_violation':
      case 'request_invalid':
      case 'operation_invalid':
        return new AdminError(400, 'request_invalid', message);
      default:
        return new AdminError(500, 'internal_error', message);
    }
  }
  return new AdminError(500, 'internal_error', 'the admin API failed to answer; see its log');
}

export function errorResponse(error: AdminError): Response {
  return Response.json({ error: { code: error.code, message: error.message } }, { status: error.status });
}
