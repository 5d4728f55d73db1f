import twilio from 'twilio';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeServer } from '../http-server.ts';
import { createFakeTwilio, type FakeTwilio } from './fake-twilio.ts';

const ACCOUNT = `AC${'1'.repeat(32)}`;
const TOKEN = 'test_token';
const sms = { to: '+15551234567', from: '+15557654321', body: 'Your order shipped.' };
let fake: FakeTwilio;
let server: FakeServer;

/** The official client pointed at the fake: the api domain's baseUrl is a public field. */
function client(token = TOKEN, options: twilio.ClientOpts = {}): twilio.Twilio {
  const c = twilio(ACCOUNT, token, options);
  c.api.baseUrl = server.url;
  return c;
}

beforeEach(async () => {
  fake = createFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN });
  server = await fake.listen();
});

afterEach(() => server.close());

describe('messages', () => {
  it('sends a message: queued, one segment, price null until fetched', async () => {
    const message = await client().messages.create(sms);
    expect(message).toMatchObject({
      accountSid: ACCOUNT,
      status: 'queued',
      numSegments: '1',
      price: null,
      to: sms.to,
      from: sms.from,
      direction: 'outbound-api',
    });
    expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(message.dateCreated).toBeInstanceOf(Date);
    expect(fake.ledger.messages).toEqual([expect.objectContaining({ sid: message.sid, numSegments: 1 })]);

    const fetched = await client().messages(message.sid).fetch();
    expect(fetched).toMatchObject({ status: 'sent', price: '-0.00790', priceUnit: 'USD' });
  });

  it('sends again on a retry: Twilio has no idempotency', async () => {
    const c = client();
    await c.messages.create(sms);
    await c.messages.create(sms);
    expect(fake.ledger.count()).toBe(2);
    expect(fake.ledger.count(sms.to)).toBe(2);
  });

  it('counts segments for long GSM-7 and for unicode bodies', async () => {
    const c = client();
    const long = await c.messages.create({ ...sms, body: 'a'.repeat(161) });
    const unicode = await c.messages.create({ ...sms, body: `Привет ${'ж'.repeat(64)}` });
    expect([long.numSegments, unicode.numSegments]).toEqual(['2', '2']);
    expect(fake.ledger.messages.map((m) => m.encoding)).toEqual(['GSM-7', 'UCS-2']);
    expect(fake.ledger.segments()).toBe(4);
  });

  it('sends a media-only MMS as one message', async () => {
    const message = await client().messages.create({
      to: sms.to,
      from: sms.from,
      mediaUrl: ['https://example.com/a.jpg', 'https://example.com/b.jpg'],
    });
    expect(message).toMatchObject({ numSegments: '1', numMedia: '2', body: '' });
    expect(fake.ledger.messages[0]?.mediaUrls).toEqual([
      'https://example.com/a.jpg',
      'https://example.com/b.jpg',
    ]);
  });

  it('accepts a Messaging Service instead of From', async () => {
    const message = await client().messages.create({
      to: sms.to,
      messagingServiceSid: `MG${'2'.repeat(32)}`,
      body: 'hi',
    });
    expect(message).toMatchObject({ status: 'accepted', from: null });
  });

  it('answers validation errors as RestException', async () => {
    const c = client();
    await expect(c.messages.create({ to: sms.to, from: sms.from })).rejects.toMatchObject({
      status: 400,
      code: 21602,
    });
    await expect(c.messages.create({ to: sms.to, body: 'x' })).rejects.toMatchObject({ code: 21603 });
    await expect(c.messages.create({ ...sms, to: 'not a number' })).rejects.toMatchObject({ code: 21211 });
    expect(fake.ledger.count()).toBe(0);
  });
});

describe('authentication', () => {
  it('surfaces a wrong token as RestException 401 / 20003', async () => {
    const error = await client('wrong')
      .messages.create(sms)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(twilio.RestException);
    expect(error).toMatchObject({
      status: 401,
      code: 20003,
      moreInfo: 'https://www.twilio.com/docs/errors/20003',
    });
    expect(fake.ledger.count()).toBe(0);
  });
});

describe('faults', () => {
  it('fail_after_act: the message was sent though the client got a 500', async () => {
    fake.faults.inject({ kind: 'fail_after_act' });
    const error = await client()
      .messages.create(sms)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(twilio.RestException);
    expect(error).toMatchObject({ status: 500, code: 20500 });
    expect(fake.ledger.count()).toBe(1);
  });

  it('reset_after_act: sent, then an axios ECONNRESET', async () => {
    fake.faults.inject({ kind: 'reset_after_act' });
    await expect(client().messages.create(sms)).rejects.toMatchObject({
      isAxiosError: true,
      code: 'ECONNRESET',
    });
    expect(fake.ledger.count()).toBe(1);
  });

  it('timeout_after_act: sent, then an axios timeout', async () => {
    fake.faults.inject({ kind: 'timeout_after_act' });
    await expect(client(TOKEN, { timeout: 100 }).messages.create(sms)).rejects.toMatchObject({
      isAxiosError: true,
      code: 'ECONNABORTED',
    });
    expect(fake.ledger.count()).toBe(1);
  });

  it('latency: slow, then sent', async () => {
    fake.faults.inject({ kind: 'latency', ms: 100 });
    const started = Date.now();
    await client().messages.create(sms);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(fake.ledger.count()).toBe(1);
  });

  it('rate_limit: 429 / 20429, nothing sent', async () => {
    fake.faults.inject({ kind: 'rate_limit' });
    await expect(client().messages.create(sms)).rejects.toMatchObject({ status: 429, code: 20429 });
    expect(fake.ledger.count()).toBe(0);
    expect(fake.ledger.requests.map((r) => [r.status, r.fault])).toEqual([[429, 'rate_limit']]);
  });
});
