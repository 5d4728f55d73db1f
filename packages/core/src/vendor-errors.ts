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
 * - an error carrying `spendguardOutcome: 'failed' | 'unknown'` (a `VendorCallError`) says so itself;
 * - any other SpendguardError (e.g. a missing credential) was raised before anything was sent: failed;
 * - an HTTP status below 500 was answered without acting: failed; but 5xx, 408, and 409 (the
 *   vendor is still running a request with this idempotency key): unknown;
 * - connection refused or a name that does not resolve never reached the vendor: failed;
 * - timeouts, resets, aborts and anything else: unknown — with money, assume it may have moved.
 */
export function classifyVendorError(error: unknown): VendorOutcome {
  if (error === null || typeof error !== 'object') return 'unknown';
  const e = error as {
    spendguardOutcome?: unknown;
    status?: unknown;
    statusCode?: unknown;
    code?: unknown;
    cause?: unknown;
  };
  // First, so a VendorCallError (a SpendguardError too) that says `unknown` is never read as failed.
  if (e.spendguardOutcome === 'failed' || e.spendguardOutcome === 'unknown') return e.spendguardOutcome;
  // Our own errors (a missing credential, say) are raised before anything is sent.
  if (SpendguardError.isInstance(error)) return 'failed';
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
