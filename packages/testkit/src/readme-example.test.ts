// The README's first example, kept here so it keeps working.
import Stripe from 'stripe';
import { expect, it } from 'vitest';
import { createFakeStripe } from './index.ts';

it('charges once even when the response is lost', async () => {
  const fake = createFakeStripe({ secretKey: 'sk_test_fake' });
  const server = await fake.listen();
  const stripe = new Stripe('sk_test_fake', {
    host: '127.0.0.1',
    port: server.port,
    protocol: 'http',
    maxNetworkRetries: 0,
  });
  fake.faults.inject({ kind: 'reset_after_act' }, { times: 2 });
  await expect(
    stripe.charges.create({ amount: 2000, currency: 'usd', source: 'tok_visa' }),
  ).rejects.toThrow();
  expect(fake.ledger.count('charge')).toBe(1); // it happened, though the client got an error
  await server.close();
});
