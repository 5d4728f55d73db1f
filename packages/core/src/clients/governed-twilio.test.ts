import { createFakeTwilio, type FakeServer } from '@spendguard/testkit';
import twilio from 'twilio';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGuard, type Guard } from '../guard.ts';
import type { PolicyDocument } from '../policy.ts';
import { MemoryStore } from '../stores/memory-store.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { createGovernedTwilio } from './governed-twilio.ts';

const AUTH_TOKEN = 'twilio_REAL_auth_token_0123456789';
const ENV = 'SPENDGUARD_TEST_TWILIO_TOKEN';
const fake = createFakeTwilio({ authToken: AUTH_TOKEN });
const FROM = '+15550000000';

const policies: PolicyDocument = {
  policies: {
    notifier: {
      twilio: {
        allow: [{ 'POST /2010-04-01/Accounts/*/Messages.json': { To: { prefix: ['+1', '+44', '+88'] } } }],
        prices: { '+1': 0.0079, '+44': 0.0463 },
      },
      caps: { perKey: 1 },
    },
  },
  credentials: { twilio: { env: ENV } },
};

let server: FakeServer;
let guard: Guard;
let clock: FakeClock;
let token: string;

beforeAll(async () => {
  server = await fake.listen();
  process.env[ENV] = AUTH_TOKEN;
});
afterAll(async () => {
  await server.close();
  delete process.env[ENV];
});
beforeEach(async () => {
  fake.reset();
  clock = new FakeClock();
  guard = createGuard({ policies, store: new MemoryStore(), now: clock.now, leaseMs: 5000 });
  token = (await guard.keys.issueRoot({ policy: 'notifier' })).token;
});

function client() {
  return createGovernedTwilio({ guard, key: token, accountSid: fake.accountSid, upstream: server.url });
}

async function restError(
  promise: Promise<unknown>,
): Promise<{ status: number; code: unknown; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { status: number; code: unknown; message: string };
  }
  throw new Error('expected an error');
}

describe('governed Twilio client', () => {
  it('sends an SMS once: Twilio has no idempotency key, so the dedup is ours', async () => {
    // Without spendguard a repeated send is a second SMS.
    const plain = twilio(fake.accountSid, AUTH_TOKEN);
    plain.api.baseUrl = server.url;
    await plain.messages.create({ to: '+15551230001', from: FROM, body: 'Your code is 1234' });
    await plain.messages.create({ to: '+15551230001', from: FROM, body: 'Your code is 1234' });
    expect(fake.ledger.count()).toBe(2);
    fake.reset();

    const first = await client().messages.create({
      to: '+15551230001',
      from: FROM,
      body: 'Your code is 1234',
    });
    const again = await client().messages.create({
      to: '+15551230001',
      from: FROM,
      body: 'Your code is 1234',
    });
    expect(again.sid).toBe(first.sid);
    expect(fake.ledger.count()).toBe(1);
    const [row] = await guard.audit.list();
    // Priced before sending: 1 GSM segment to +1; Twilio gave no price yet, so the estimate stands.
    expect(row).toMatchObject({
      estimatedCostUsd: 0.0079,
      actualCostUsd: 0.0079,
      actualCostIsEstimate: true,
      upstreamObjectId: first.sid,
    });
  });

  it('prices by segments: a long unicode body to the UK costs three segments', async () => {
    await client().messages.create({
      to: '+447700900123',
      from: FROM,
      body: 'Ваш заказ отправлен. '.repeat(7),
    });
    expect(fake.ledger.segments()).toBe(3);
    expect((await guard.audit.list())[0]?.estimatedCostUsd).toBeCloseTo(3 * 0.0463, 10);
  });

  it('refuses a destination with no price (a premium number) before anything is sent', async () => {
    const error = await restError(client().messages.create({ to: '+881234567890', from: FROM, body: 'hi' }));
    expect(error.status).toBe(403);
    expect(error.code).toBe('spendguard_cost_unknown');
    expect(error.message).toContain('+881234567890');
    expect(fake.ledger.count()).toBe(0);
  });

  it('after a reset mid-send, refuses to send again: the outcome stays unknown', async () => {
    fake.faults.inject({ kind: 'reset_after_act' });
    await restError(client().messages.create({ to: '+15551230002', from: FROM, body: 'Shipped' }));
    expect(fake.ledger.count()).toBe(1); // it went out
    clock.advance(5001);
    const retry = await restError(
      client().messages.create({ to: '+15551230002', from: FROM, body: 'Shipped' }),
    );
    expect(retry.code).toBe('spendguard_outcome_unknown');
    expect(fake.ledger.count()).toBe(1);
  });
});
