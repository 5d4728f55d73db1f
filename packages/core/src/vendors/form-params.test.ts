import { expect, it } from 'vitest';
import { decodeFormParams } from './form-params.ts';

it('decodes Stripe bracket notation into nested params', () => {
  const body =
    'amount=2000&currency=usd&metadata[order_id]=ord_1&metadata[note]=a%20b&expand[]=customer&expand[]=latest_charge' +
    '&items[0][price]=p1&items[1][price]=p2&items[1][quantity]=3&payment_method_data[billing_details][name]=Ada';
  expect(decodeFormParams(body)).toEqual({
    amount: '2000',
    currency: 'usd',
    metadata: { order_id: 'ord_1', note: 'a b' },
    expand: ['customer', 'latest_charge'],
    items: [{ price: 'p1' }, { price: 'p2', quantity: '3' }],
    payment_method_data: { billing_details: { name: 'Ada' } },
  });
});

it('keeps plain Twilio params as they are', () => {
  expect(decodeFormParams('To=%2B15551234567&From=%2B15557654321&Body=Hello+there')).toEqual({
    To: '+15551234567',
    From: '+15557654321',
    Body: 'Hello there',
  });
});
