import type { ResolvedPolicy } from '../policy.ts';
import { decodeFormParams } from './form-params.ts';
import { countSmsSegments } from './sms-segments.ts';
import {
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

// Message SIDs are SM… (SMS) or MM… (MMS); media SIDs ME…, each with 32 hex digits.
const ACCOUNT_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\//;
const MESSAGES = /^\/2010-04-01\/Accounts\/[^/]+\/Messages\.json$/;
const MESSAGE = /^\/2010-04-01\/Accounts\/[^/]+\/Messages\/[SM]M[0-9a-fA-F]{32}\.json$/;
const MESSAGE_MEDIA =
  /^\/2010-04-01\/Accounts\/[^/]+\/Messages\/[SM]M[0-9a-fA-F]{32}\/Media\/ME[0-9a-fA-F]{32}\.json$/;

/** Keys of `twilio.prices` starting with this price an MMS (per message): `'mms:+1': 0.02`. */
const MMS_KEY = 'mms:';

/** Twilio's own price: a decimal string (negative: money charged), as in `"-0.00750"`. */
const DECIMAL = /^-?\d+(?:\.\d+)?$/;
const CURRENCY = /^[A-Za-z]{3}$/;

/** A destination as a message shows it: long ones are cut, so the message stays one sentence. */
function shown(to: string): string {
  return to.length > 40 ? `${to.slice(0, 40)}…` : to;
}

function isPrice(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/**
 * The policy's USD price for a destination, among the SMS keys (`'+44'`, per segment) or the
 * MMS keys (`'mms:+44'`, per message): the longest matching prefix wins. A price that is not a
 * finite number ≥ 0 counts as absent.
 */
function destinationPrice(
  prices: Readonly<Record<string, number>> | undefined,
  kind: 'sms' | 'mms',
  to: string,
): number | undefined {
  let best: { prefix: string; price: number } | undefined;
  for (const [key, price] of Object.entries(prices ?? {})) {
    if (key.startsWith(MMS_KEY) !== (kind === 'mms') || !isPrice(price)) continue;
    const prefix = kind === 'mms' ? key.slice(MMS_KEY.length) : key;
    if (to.startsWith(prefix) && (!best || prefix.length > best.prefix.length)) best = { prefix, price };
  }
  return best?.price;
}

/** The media URLs of a message: `MediaUrl` repeated decodes as a list, once as a string. */
function mediaUrls(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((url) => typeof url === 'string')) return value;
  return undefined;
}

/**
 * A Messages create: an SMS is its segments × the destination's price per segment, an MMS (a
 * non-empty `MediaUrl`) one message × the destination's MMS price. Anything that cannot be read as one
 * destination and one text body is unknown, never guessed.
 */
function priceMessage(params: unknown, policy: ResolvedPolicy): CostEstimate {
  if (!isRecord(params)) return { unknown: 'the Twilio message params are not a set of form fields' };
  const to = own(params, 'To');
  if (typeof to !== 'string' || to === '') {
    return {
      unknown:
        to === undefined || to === ''
          ? 'a Twilio message without a `To` destination cannot be priced'
          : `a Twilio message goes to one \`To\` destination, a string; this one is ${kindOf(to)}`,
    };
  }
  const body = own(params, 'Body') ?? '';
  if (typeof body !== 'string') {
    return { unknown: `a Twilio message \`Body\` is one string; this one is ${kindOf(body)}` };
  }
  const contentSid = own(params, 'ContentSid');
  if (contentSid !== undefined && contentSid !== '') {
    return {
      unknown:
        'a message from a Content template (`ContentSid`) cannot be priced: spendguard cannot see its text to count segments',
    };
  }
  const media = mediaUrls(own(params, 'MediaUrl'));
  if (!media) return { unknown: '`MediaUrl` is neither a URL nor a list of URLs' };
  const prices = Object.hasOwn(policy.prices, 'twilio') ? policy.prices.twilio : undefined;

  let amount: number;
  if (media.some((url) => url !== '')) {
    const price = destinationPrice(prices, 'mms', to);
    if (price === undefined) {
      return {
        unknown: `no MMS price for destination ${shown(to)} in twilio.prices of policy "${policy.name}" (an MMS price is written "${MMS_KEY}<prefix>")`,
      };
    }
    amount = price; // an MMS is billed per message, not per segment
  } else {
    const price = destinationPrice(prices, 'sms', to);
    if (price === undefined) {
      return {
        unknown: `no SMS price for destination ${shown(to)} in twilio.prices of policy "${policy.name}"`,
      };
    }
    amount = countSmsSegments(body).segments * price;
  }
  if (!Number.isFinite(amount)) return { unknown: 'the Twilio message price is too large to count' };
  return { cost: { amount, currency: 'usd' } };
}

/**
 * Writes that send nothing: deleting a message or its media, and updating a message only to
 * redact its text (`Body` empty) or cancel a scheduled send (`Status=canceled`).
 */
function isCostFree(op: VendorOperation): boolean {
  if (op.method === 'DELETE') return MESSAGE.test(op.path) || MESSAGE_MEDIA.test(op.path);
  if (op.method !== 'POST' || !MESSAGE.test(op.path) || !isRecord(op.params)) return false;
  return Object.keys(op.params).every(
    (name) =>
      (name === 'Body' && op.params[name] === '') || (name === 'Status' && op.params[name] === 'canceled'),
  );
}

/**
 * Twilio Messages: form bodies, HTTP Basic auth, no idempotency key (a retry sends again, so
 * dedup is ours alone). Cost = segments × the policy's USD price for the destination prefix
 * (`twilio.prices`), or for an MMS the policy's price per MMS (`mms:<prefix>`); a destination
 * with no price is denied. Reads and the writes that send nothing are free; any other write is
 * unlisted (a call, for one, costs money). Twilio fills `price` only later, so the settlement is
 * usually the estimate, marked as such.
 */
export const twilioProfile: VendorProfile = {
  vendor: 'twilio',
  hosts: ['api.twilio.com'],
  idempotencyHeader: null,
  formEncoded: true,

  accountOf(_headers, path) {
    return ACCOUNT_PATH.exec(path)?.[1]; // the account (or subaccount) SID the call acts on
  },

  recipientOf(op) {
    return recipientFrom(op.params, ['To']);
  },

  readParams(_contentType, body) {
    return decodeFormParams(body);
  },

  async estimate(op, { policy }): Promise<CostEstimate> {
    if (op.method === 'GET' || op.method === 'HEAD') return FREE;
    if (op.method === 'POST' && MESSAGES.test(op.path)) return priceMessage(op.params, policy);
    return isCostFree(op) ? FREE : unlisted('twilio', op);
  },

  settle(_op, body, estimate) {
    const message = isRecord(body) ? body : {};
    const sid = own(message, 'sid');
    const price = own(message, 'price');
    const unit = own(message, 'price_unit');
    const ids = typeof sid === 'string' ? { upstreamObjectId: sid } : {};
    // Twilio writes the price negative (money charged). Anything but a plain decimal ('', '0x10',
    // 'Infinity', a list) is no price, so the estimate stands in for it.
    const amount =
      (typeof price === 'string' && DECIMAL.test(price)) || typeof price === 'number'
        ? Math.abs(Number(price))
        : Number.NaN;
    if (Number.isFinite(amount) && typeof unit === 'string' && CURRENCY.test(unit)) {
      return { cost: { amount, currency: unit.toLowerCase() }, ...ids };
    }
    return { ...(estimate && { cost: estimate }), costIsEstimate: true, ...ids };
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
