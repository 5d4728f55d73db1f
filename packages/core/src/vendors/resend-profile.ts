import { bearer, type CostEstimate, FREE, type VendorProfile } from './vendor-profile.ts';

type Email = { to?: unknown; cc?: unknown; bcc?: unknown };

function count(field: unknown): number {
  if (Array.isArray(field)) return field.length;
  return typeof field === 'string' && field.length > 0 ? 1 : 0;
}

function recipients(email: Email): number {
  return count(email.to) + count(email.cc) + count(email.bcc);
}

/**
 * Resend: JSON bodies, Bearer auth, `Idempotency-Key` honoured. Cost = recipients (to + cc + bcc,
 * of every message of a batch) × the policy's USD price per email (`resend.prices.email`).
 */
export const resendProfile: VendorProfile = {
  vendor: 'resend',
  hosts: ['api.resend.com'],
  idempotencyHeader: 'Idempotency-Key',

  readParams(_contentType, body) {
    const parsed = JSON.parse(body || '{}') as unknown;
    // A batch is a JSON array; params are an object, so it is kept under `emails`.
    return Array.isArray(parsed) ? { emails: parsed } : (parsed as Record<string, unknown>);
  },

  async estimate(op, { policy }): Promise<CostEstimate> {
    if (op.method !== 'POST' || (op.path !== '/emails' && op.path !== '/emails/batch')) return FREE;
    const price = policy.prices.resend?.email;
    if (price === undefined)
      return { unknown: `no price per email (resend.prices.email) in policy "${policy.name}"` };
    const emails = op.path === '/emails/batch' ? ((op.params.emails ?? []) as Email[]) : [op.params as Email];
    const total = emails.reduce((n, email) => n + recipients(email), 0);
    return { cost: { amount: total * price, currency: 'usd' } };
  },

  settle(_op, body, estimate) {
    const id = (body as { id?: unknown } | null)?.id;
    return { ...(estimate && { cost: estimate }), ...(typeof id === 'string' && { upstreamObjectId: id }) };
  },

  authorize: bearer,

  errorResponse(status, code, message) {
    return { body: { statusCode: status, name: `spendguard_${code}`, message } };
  },
};
