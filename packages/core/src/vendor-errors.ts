import { SpendguardError } from './errors.ts';

/**
 * Whether a thrown vendor call surely failed (nothing happened at the vendor, the reservation
 * is released) or left the outcome unknown (it may have acted: the reservation is kept and the
 * checkpoint stays in progress until its lease ends).
 */
export type VendorOutcome = 'failed' | 'unknown';

const UNKNOWN_CODES = new Set([
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const FAILED_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * The default classification:
 * - a SpendguardError (e.g. a missing credential) was raised before anything was sent: failed;
 * - an error carrying `spendguardOutcome: 'failed' | 'unknown'` says so itself;
 * - an HTTP status below 500 was answered without acting: failed; but 5xx, 408, and 409 (the
 *   vendor is still running a request with this idempotency key): unknown;
 * - connection refused or a name that does not resolve never reached the vendor: failed;
 * - timeouts, resets, aborts and anything else: unknown — with money, assume it may have moved.
 */
export function classifyVendorError(error: unknown): VendorOutcome {
  if (error === null || typeof error !== 'object') return 'unknown';
  // Our own errors (a missing credential, say) are raised before anything is sent.
  if (error instanceof SpendguardError) return 'failed';
  const e = error as {
    spendguardOutcome?: unknown;
    status?: unknown;
    statusCode?: unknown;
    code?: unknown;
    cause?: unknown;
  };
  if (e.spendguardOutcome === 'failed' || e.spendguardOutcome === 'unknown') return e.spendguardOutcome;
  const status =
    typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status !== undefined) return status < 500 && status !== 408 && status !== 409 ? 'failed' : 'unknown';
  if (typeof e.code === 'string') {
    if (FAILED_CODES.has(e.code)) return 'failed';
    if (UNKNOWN_CODES.has(e.code)) return 'unknown';
  }
  if (e.cause !== undefined && e.cause !== error) return classifyVendorError(e.cause);
  return 'unknown';
}

/** Throw this from a vendor call to state the outcome plainly. */
export class VendorCallError extends Error {
  readonly spendguardOutcome: VendorOutcome;
  readonly status: number | undefined;

  constructor(message: string, options: { outcome: VendorOutcome; status?: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'VendorCallError';
    this.spendguardOutcome = options.outcome;
    this.status = options.status;
  }
}
