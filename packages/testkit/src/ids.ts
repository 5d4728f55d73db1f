import { randomBytes, randomUUID } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A Stripe-looking id: `ch_` followed by 24 base-62 characters. */
export function stripeId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = '';
  // The slight modulo bias does not matter: these ids only have to be unique and look right.
  for (const byte of bytes) out += BASE62[byte % 62];
  return `${prefix}_${out}`;
}

/** A Twilio-looking SID: two letters and 32 lowercase hex digits (`SM…`, `RQ…`). */
export function twilioSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/** A random UUID v4, the shape of Resend's email ids. */
export function uuid(): string {
  return randomUUID();
}
