import { expect, it } from 'vitest';
import { parseForm } from './form.ts';

it('reads flat fields', () => {
  expect(parseForm('amount=2000&currency=usd&description=a%20b')).toEqual({
    amount: '2000',
    currency: 'usd',
    description: 'a b',
  });
});

it('reads bracket notation as objects and arrays', () => {
  const body =
    'metadata[order_id]=o_1&metadata[note]=&expand[]=a&expand[]=b&items[0][price]=p1&items[1][price]=p2' +
    '&payment_method_data[type]=card&payment_method_data[billing_details][name]=Ada';
  expect(parseForm(body)).toEqual({
    metadata: { order_id: 'o_1', note: '' },
    expand: ['a', 'b'],
    items: [{ price: 'p1' }, { price: 'p2' }],
    payment_method_data: { type: 'card', billing_details: { name: 'Ada' } },
  });
});

it('reads encoded brackets and indexed arrays as stripe-node sends them', () => {
  expect(parseForm('expand%5B0%5D=latest_charge&expand%5B1%5D=customer')).toEqual({
    expand: ['latest_charge', 'customer'],
  });
});

it('reads a query string', () => {
  expect(parseForm(new URLSearchParams('expand[0]=customer'))).toEqual({ expand: ['customer'] });
});
