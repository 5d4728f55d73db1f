import { decodeFormParams } from './form-params.ts';
import { countSmsSegments } from './sms-segments.ts';
import { type CostEstimate, FREE, type VendorProfile } from './vendor-profile.ts';

const MESSAGES = /^\/2010-04-01\/Accounts\/[^/]+\/Messages\.json$/;

/** The price per segment for a destination: the policy's longest matching prefix wins. */
function pricePerSegment(
  prices: Readonly<Record<string, number>> | undefined,
  to: string,
): number | undefined {
  let best: { prefix: string; price: number } | undefined;
  for (const [prefix, price] of Object.entries(prices ?? {})) {
    if (to.startsWith(prefix) && (!best || prefix.length > best.prefix.length)) best = { prefix, price };
  }
  return best?.price;
}

/**
 * Twilio Messages: form bodies, HTTP Basic auth, no idempotency key (a retry sends again, so
 * dedup is ours alone). Cost = segments × the policy's USD price for the destination prefix
 * (`twilio.prices`); a destination with no price is denied. Twilio fills `price` only later, so
 * the settlement is usually the estimate, marked as such.
 */
export const twilioProfile: VendorProfile = {
  vendor: 'twilio',
  hosts: ['api.twilio.com'],
  idempotencyHeader: null,

  readParams(_contentType, body) {
    return decodeFormParams(body);
  },

  async estimate(op, { policy }): Promise<CostEstimate> {
    if (op.method !== 'POST' || !MESSAGES.test(op.path)) return FREE;
    const to = String(op.params.To ?? '');
    const price = pricePerSegment(policy.prices.twilio, to);
    if (price === undefined) {
      return {
        unknown: `no SMS price for destination ${to || '(none)'} in twilio.prices of policy "${policy.name}"`,
      };
    }
    const { segments } = countSmsSegments(String(op.params.Body ?? ''));
    return { cost: { amount: segments * price, currency: 'usd' } };
  },

  settle(_op, body, estimate) {
    const message = (body ?? {}) as { sid?: unknown; price?: unknown; price_unit?: unknown };
    const sid = typeof message.sid === 'string' ? { upstreamObjectId: message.sid } : {};
    const price =
      message.price === null || message.price === undefined ? Number.NaN : Math.abs(Number(message.price));
    if (Number.isFinite(price) && typeof message.price_unit === 'string') {
      return { cost: { amount: price, currency: message.price_unit.toLowerCase() }, ...sid };
    }
    return { ...(estimate && { cost: estimate }), costIsEstimate: true, ...sid };
  },

  /**
   * HTTP Basic with the Account SID (or API key SID) the request named as user, and the real
   * auth token as password. A credential written `SID:token` carries its own user.
   */
  authorize(headers, credential) {
    let user = '';
    const auth = headers.get('authorization');
    if (auth?.startsWith('Basic '))
      user = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':')[0] ?? '';
    const pair = credential.includes(':') ? credential : `${user}:${credential}`;
    headers.set('authorization', `Basic ${Buffer.from(pair).toString('base64')}`);
  },

  errorResponse(status, code, message) {
    return { body: { status, code: `spendguard_${code}`, message } };
  },
};
