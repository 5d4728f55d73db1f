import type { ResolvedPolicy } from '../policy.ts';
import { decodeJsonParams } from '../untrusted-input.ts';
import {
  bearer,
  type CostEstimate,
  FREE,
  isRecord,
  kindOf,
  own,
  recipientFrom,
  unlisted,
  type VendorOperation,
  type VendorProfile,
} from './vendor-profile.ts';

/** Resend's limits: a batch holds at most 100 emails, and one email's `to` at most 50 addresses. */
const MAX_BATCH = 100;
const MAX_TO = 50;

/**
 * Resend writes that send nothing: rescheduling or cancelling an email (priced when created),
 * and managing domains, API keys, audiences and contacts.
 */
const COST_FREE_WRITES: readonly { method: string; path: RegExp }[] = [
  { method: 'PATCH', path: /^\/emails\/[^/]+$/ },
  { method: 'POST', path: /^\/emails\/[^/]+\/cancel$/ },
  { method: 'POST', path: /^\/domains$/ },
  { method: 'PATCH', path: /^\/domains\/[^/]+$/ },
  { method: 'POST', path: /^\/domains\/[^/]+\/verify$/ },
  { method: 'DELETE', path: /^\/domains\/[^/]+$/ },
  { method: 'POST', path: /^\/api-keys$/ },
  { method: 'DELETE', path: /^\/api-keys\/[^/]+$/ },
  { method: 'POST', path: /^\/audiences$/ },
  { method: 'DELETE', path: /^\/audiences\/[^/]+$/ },
  { method: 'POST', path: /^(?:\/audiences\/[^/]+)?\/contacts$/ },
  { method: 'PATCH', path: /^(?:\/audiences\/[^/]+)?\/contacts\/[^/]+$/ },
  { method: 'DELETE', path: /^(?:\/audiences\/[^/]+)?\/contacts\/[^/]+$/ },
];

type Counted = { recipients: number } | { unknown: string };

/**
 * The addresses of `to`, `cc` or `bcc`: a string or a list of strings, each of which may hold
 * several addresses separated by commas. (A quoted name holding a comma counts twice: an
 * overcount, which only makes the estimate higher.)
 */
function countAddresses(field: string, value: unknown): Counted {
  if (value === undefined || value === null) return { recipients: 0 };
  const items = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(items)) {
    return { unknown: `\`${field}\` is ${kindOf(value)}, not an address or a list of addresses` };
  }
  let recipients = 0;
  for (const item of items) {
    if (typeof item !== 'string') return { unknown: `\`${field}\` holds ${kindOf(item)}, not an address` };
    recipients += item.split(',').filter((address) => address.trim() !== '').length;
  }
  return { recipients };
}

/** Everyone one email goes to: to + cc + bcc. `where` names the email in a sentence. */
function countEmail(email: unknown, where: string): Counted {
  if (!isRecord(email)) return { unknown: `${where} is ${kindOf(email)}, not an email object` };
  let recipients = 0;
  for (const field of ['to', 'cc', 'bcc']) {
    const counted = countAddresses(field, own(email, field));
    if ('unknown' in counted) return { unknown: `${where}: ${counted.unknown}` };
    if (field === 'to' && counted.recipients === 0) {
      return { unknown: `${where} has no \`to\` address, so it cannot be sent or priced` };
    }
    if (field === 'to' && counted.recipients > MAX_TO) {
      return {
        unknown: `${where} has ${counted.recipients} \`to\` addresses; Resend takes at most ${MAX_TO}`,
      };
    }
    recipients += counted.recipients;
  }
  return { recipients };
}

/** Everyone a batch goes to: every email's to + cc + bcc. */
function countBatch(params: unknown): Counted {
  const emails = isRecord(params) ? own(params, 'emails') : undefined;
  if (!Array.isArray(emails)) return { unknown: 'a Resend batch is a list of emails' };
  if (emails.length > MAX_BATCH) {
    return { unknown: `the batch holds ${emails.length} emails; Resend takes at most ${MAX_BATCH}` };
  }
  let recipients = 0;
  for (const [index, email] of emails.entries()) {
    const counted = countEmail(email, `email ${index} of the batch`);
    if ('unknown' in counted) return counted;
    recipients += counted.recipients;
  }
  return { recipients };
}

/** Recipients × the policy's price per email. */
function priced(counted: Counted, policy: ResolvedPolicy): CostEstimate {
  if ('unknown' in counted) return counted;
  const prices = Object.hasOwn(policy.prices, 'resend') ? policy.prices.resend : undefined;
  const price = prices && own(prices, 'email');
  if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
    return { unknown: `no price per email (resend.prices.email) in policy "${policy.name}"` };
  }
  const amount = counted.recipients * price;
  if (!Number.isFinite(amount)) return { unknown: 'the Resend price is too large to count' };
  return { cost: { amount, currency: 'usd' } };
}

function isCostFree(op: VendorOperation): boolean {
  return COST_FREE_WRITES.some((write) => write.method === op.method && write.path.test(op.path));
}

/**
 * Resend: JSON bodies, Bearer auth, `Idempotency-Key` honoured. Cost = recipients (to + cc + bcc,
 * of every message of a batch) × the policy's USD price per email (`resend.prices.email`). Reads
 * and the writes that send nothing are free; any other write is unlisted.
 */
export const resendProfile: VendorProfile = {
  vendor: 'resend',
  hosts: ['api.resend.com'],
  idempotencyHeader: 'Idempotency-Key',

  recipientOf(op) {
    const emails = own(op.params, 'emails');
    if (!Array.isArray(emails)) return recipientFrom(op.params, ['to']);
    // A batch: every message's `to`, in order.
    const to = emails.flatMap((email) => {
      const value = isRecord(email) ? own(email, 'to') : undefined;
      return typeof value === 'string' || Array.isArray(value) ? [value].flat() : [];
    });
    return recipientFrom({ to }, ['to']);
  },

  readParams(_contentType, body) {
    const params = decodeJsonParams(body);
    // A batch is a JSON array; params are an object, so it is kept under `emails`.
    return Array.isArray(params) ? { emails: params } : params;
  },

  async estimate(op, { policy }): Promise<CostEstimate> {
    if (op.method === 'GET' || op.method === 'HEAD') return FREE;
    if (op.method === 'POST' && op.path === '/emails')
      return priced(countEmail(op.params, 'the email'), policy);
    if (op.method === 'POST' && op.path === '/emails/batch') return priced(countBatch(op.params), policy);
    return isCostFree(op) ? FREE : unlisted('resend', op);
  },

  settle(_op, body, estimate) {
    const id = isRecord(body) ? own(body, 'id') : undefined;
    return { ...(estimate && { cost: estimate }), ...(typeof id === 'string' && { upstreamObjectId: id }) };
  },

  authorize: bearer,

  errorResponse(status, code, message) {
    return { body: { statusCode: status, name: `spendguard_${code}`, message } };
  },
};
