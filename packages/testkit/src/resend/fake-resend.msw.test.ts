import { setupServer } from 'msw/node';
import { Resend } from 'resend';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createFakeResend } from './fake-resend.ts';

const fake = createFakeResend();
const network = setupServer(...fake.handlers);
// Default base URL, https://api.resend.com.
const resend = new Resend(fake.apiKey);
const email = { from: 'a@shop.example', to: 'b@example.com', subject: 'Hi', text: 'x' };

beforeAll(() => network.listen({ onUnhandledFrame: 'error' }));
afterEach(() => fake.reset());
afterAll(() => network.close());

it('sends through msw at the default base URL, idempotently', async () => {
  const first = await resend.emails.send(email, { idempotencyKey: 'msw' });
  const second = await resend.emails.send(email, { idempotencyKey: 'msw' });
  expect(first.error).toBeNull();
  expect(second.data?.id).toBe(first.data?.id);
  expect(fake.ledger.count()).toBe(1);
});

it('answers 409 for the same key with another payload', async () => {
  await resend.emails.send(email, { idempotencyKey: 'msw' });
  const { error } = await resend.emails.send({ ...email, subject: 'Other' }, { idempotencyKey: 'msw' });
  expect(error).toMatchObject({ statusCode: 409, name: 'invalid_idempotent_request' });
});
