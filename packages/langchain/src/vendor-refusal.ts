import { stampRetryable } from '@langchain/core/errors';

/**
 * Whether an error is a vendor SDK raising spendguard's refusal of a governed call: every vendor
 * profile answers a refusal in the vendor's own error shape with its code as `spendguard_<code>`
 * (Stripe and Twilio errors carry it as `code`, Resend's as `name`). A refusal does not change on
 * retry; a vendor's own failure (a 5xx, a reset) carries the vendor's code and may be retried.
 */
export function isVendorRefusal(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const raw = (error as { raw?: unknown }).raw;
  return [error, raw].some((e) => {
    if (e === null || typeof e !== 'object') return false;
    const { code, name } = e as { code?: unknown; name?: unknown };
    return [code, name].some((v) => typeof v === 'string' && v.startsWith('spendguard_'));
  });
}

/**
 * Mark a vendor refusal as not retryable (LangChain's own mark, which `toolRetryMiddleware` and
 * `modelRetryMiddleware` read), so retry middleware inside `spendguardMiddleware` does not run
 * the tool again for a refusal. Returns the error.
 */
export function markRefusal<E>(error: E): E {
  return isVendorRefusal(error) ? (stampRetryable(error, false) as E) : error;
}
