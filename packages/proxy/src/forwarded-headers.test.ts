import { expect, it } from 'vitest';
import { forwardedHeaders } from './forwarded-headers.ts';

it('passes end-to-end headers on and drops those of the connection, the host, length and encodings', () => {
  const incoming = new Headers({
    'stripe-version': '2025-06-30.basil',
    'stripe-account': 'acct_1',
    'user-agent': 'Stripe/v1 PythonBindings/12.3.0',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    host: 'proxy.internal:8787',
    connection: 'keep-alive, x-conn-scoped',
    'x-conn-scoped': '1',
    'keep-alive': 'timeout=5',
    'content-length': '12',
    'transfer-encoding': 'chunked',
    'accept-encoding': 'gzip',
    'proxy-authorization': 'Basic eDp5',
  });
  expect([...forwardedHeaders(incoming).keys()].sort()).toEqual([
    'stripe-account',
    'stripe-version',
    'traceparent',
    'user-agent',
  ]);
});
