import { expect, it } from 'vitest';
import { SpendguardError, VendorCallError } from './errors.ts';
import { classifyVendorError } from './vendor-errors.ts';

it.each([
  ['an explicit outcome', new VendorCallError('x', { outcome: 'failed' }), 'failed'],
  // A VendorCallError is a SpendguardError too: its own outcome wins over "raised before sending".
  ['an explicit unknown outcome', new VendorCallError('x', { outcome: 'unknown' }), 'unknown'],
  ['a 402 card decline', Object.assign(new Error('declined'), { statusCode: 402 }), 'failed'],
  ['a 429', Object.assign(new Error('slow down'), { status: 429 }), 'failed'],
  ['a 500', Object.assign(new Error('api_error'), { status: 500 }), 'unknown'],
  ['a 408', Object.assign(new Error('timeout'), { status: 408 }), 'unknown'],
  [
    'a 409: the same key still running at the vendor',
    Object.assign(new Error('in use'), { statusCode: 409 }),
    'unknown',
  ],
  ['a reset after sending', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'unknown'],
  ['a refused connection', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'failed'],
  [
    'fetch failed, caused by a timeout',
    new TypeError('fetch failed', { cause: { code: 'UND_ERR_HEADERS_TIMEOUT' } }),
    'unknown',
  ],
  ['a missing credential', new SpendguardError('credential_missing', 'no key'), 'failed'],
  ['anything else', new Error('boom'), 'unknown'],
  ['a thrown string', 'boom', 'unknown'],
] as const)('classifies %s', (_name, error, outcome) => {
  expect(classifyVendorError(error)).toBe(outcome);
});
