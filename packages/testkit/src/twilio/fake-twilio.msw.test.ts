import { setupServer } from 'msw/node';
import twilio from 'twilio';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createFakeTwilio } from './fake-twilio.ts';

const fake = createFakeTwilio();
const network = setupServer(...fake.handlers);
// The client keeps its default base URL, https://api.twilio.com.
const client = twilio(fake.accountSid, fake.authToken);

beforeAll(() => network.listen({ onUnhandledFrame: 'error' }));
afterEach(() => fake.reset());
afterAll(() => network.close());

it('sends through msw at the default base URL', async () => {
  const message = await client.messages.create({ to: '+15551234567', from: '+15557654321', body: 'hi' });
  expect(message.sid).toMatch(/^SM/);
  expect(fake.ledger.count()).toBe(1);
});

it('turns reset_after_act into an axios network error', async () => {
  fake.faults.inject({ kind: 'reset_after_act' });
  await expect(
    client.messages.create({ to: '+15551234567', from: '+15557654321', body: 'hi' }),
  ).rejects.toMatchObject({ isAxiosError: true, message: expect.stringMatching(/network error/i) });
  expect(fake.ledger.count()).toBe(1);
});
