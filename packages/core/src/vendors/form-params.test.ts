import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestInvalidError } from '../errors.ts';
import { INPUT_LIMITS } from '../untrusted-input.ts';
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

it('keeps plain Twilio params as they are, and a repeated name as a list', () => {
  expect(decodeFormParams('To=%2B15551234567&From=%2B15557654321&Body=Hello+there')).toEqual({
    To: '+15551234567',
    From: '+15557654321',
    Body: 'Hello there',
  });
  expect(decodeFormParams('MediaUrl=https%3A%2F%2Fa&MediaUrl=https%3A%2F%2Fb')).toEqual({
    MediaUrl: ['https://a', 'https://b'],
  });
});

it('returns null-prototype objects at every depth', () => {
  const params = decodeFormParams('metadata[a]=1&items[0][price]=p');
  expect(Object.getPrototypeOf(params)).toBe(null);
  expect(Object.getPrototypeOf(params.metadata)).toBe(null);
  expect(Object.getPrototypeOf((params.items as object[])[0])).toBe(null);
  expect((params as Record<string, unknown>).toString).toBeUndefined();
});

describe('refuses what cannot be decoded safely, naming the param', () => {
  it.each([
    ['a prototype key at the root', '__proto__[polluted]=1', '__proto__[polluted]'],
    ['a prototype key in a bracket', 'metadata[__proto__][polluted]=1', 'metadata[__proto__][polluted]'],
    ['constructor.prototype', 'constructor[prototype][polluted]=1', 'constructor[prototype][polluted]'],
    ['percent-encoded brackets', 'metadata%5B__proto__%5D=1', 'metadata[__proto__]'],
    ['a huge bracket index', 'items[99999999999999999999][price]=p', 'items[99999999999999999999][price]'],
    [
      'an index just past the bound',
      `items[${INPUT_LIMITS.maxFormArrayItems}]=p`,
      `items[${INPUT_LIMITS.maxFormArrayItems}]`,
    ],
    ['a name that is not bracket notation', 'amount]=99999', 'amount]'],
    ['text after a bracket', 'metadata[a]b=1', 'metadata[a]b'],
    ['an empty name', '=1', ''],
    [
      'nesting past the bound',
      `a${'[b]'.repeat(INPUT_LIMITS.maxDepth + 1)}=1`,
      `a${'[b]'.repeat(INPUT_LIMITS.maxDepth + 1)}`,
    ],
    ['too many appends', Array.from({ length: 101 }, () => 'expand[]=x').join('&'), 'expand[]'],
  ])('%s', (_name, body, param) => {
    let error: unknown;
    try {
      decodeFormParams(body);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RequestInvalidError);
    expect((error as RequestInvalidError).code).toBe('request_invalid');
    expect((error as RequestInvalidError).param).toBe(param.length > 80 ? `${param.slice(0, 80)}…` : param);
  });

  it('a body past the size bound, and too many params', () => {
    expect(() => decodeFormParams(`d=${'x'.repeat(INPUT_LIMITS.maxBodyBytes)}`)).toThrow(/bytes, more than/);
    const many = Array.from({ length: INPUT_LIMITS.maxParams + 1 }, (_, i) => `metadata[k${i}]=v`).join('&');
    expect(() => decodeFormParams(many)).toThrow(/more than 1000 params/);
  });

  it('a repeated plain name, when the vendor would read only one of them', () => {
    expect(() => decodeFormParams('amount=100&amount=999999', { duplicates: 'refuse' })).toThrow(
      /param amount is given more than once/,
    );
    expect(decodeFormParams('expand[]=a&expand[]=b', { duplicates: 'refuse' })).toEqual({
      expand: ['a', 'b'],
    });
  });
});

/** Param-name parts an attacker would try, mixed with ordinary ones. */
const namePart = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', ''),
  fc.constantFrom('amount', 'metadata', 'items', 'price', 'currency'),
  fc.nat({ max: 200 }).map(String),
  fc.constantFrom('99999999999', '1e9', '-1', '0x10', '[', ']', '%5B', '%5D', '%00'),
  fc.string({ maxLength: 6 }),
);
const paramName = fc
  .tuple(namePart, fc.array(namePart, { maxLength: 5 }), fc.boolean())
  .map(([root, parts, malformed]) => {
    const brackets = parts.map((p) => `[${p}]`).join('');
    return malformed ? `${root}${brackets.slice(1)}` : `${root}${brackets}`;
  });
const formBody = fc
  .array(fc.tuple(paramName, fc.string({ maxLength: 8 })), { maxLength: 30 })
  .map((pairs) =>
    pairs
      .map(
        ([n, v]) =>
          `${encodeURIComponent(n).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${encodeURIComponent(v)}`,
      )
      .join('&'),
  );

function prototypeSnapshot(): string {
  return JSON.stringify([
    Object.getOwnPropertyNames(Object.prototype).sort(),
    Object.getOwnPropertyNames(Array.prototype).sort(),
    Object.getOwnPropertyNames(Function.prototype).sort(),
  ]);
}

describe('decoding properties', () => {
  it('for any body: Object.prototype is unchanged, and the result is data or a RequestInvalidError', () => {
    const before = prototypeSnapshot();
    fc.assert(
      fc.property(formBody, (body) => {
        let params: Record<string, unknown> | undefined;
        try {
          params = decodeFormParams(body);
        } catch (error) {
          expect(error).toBeInstanceOf(RequestInvalidError);
          return;
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(prototypeSnapshot()).toBe(before);
        // Every container is an array or has no prototype; no key reaches one.
        const stack: unknown[] = [params];
        while (stack.length > 0) {
          const node = stack.pop();
          if (node === null || typeof node !== 'object') continue;
          if (!Array.isArray(node)) expect(Object.getPrototypeOf(node)).toBe(null);
          for (const key of Object.keys(node)) {
            expect(['__proto__', 'constructor', 'prototype']).not.toContain(key);
            stack.push((node as Record<string, unknown>)[key]);
          }
          if (Array.isArray(node)) expect(node.length).toBeLessThanOrEqual(INPUT_LIMITS.maxFormArrayItems);
        }
      }),
      { numRuns: 2000 },
    );
    expect(prototypeSnapshot()).toBe(before);
  });

  it('decodes (or refuses) a generated 1 MB body in well under 100 ms', () => {
    const shapes = fc.constantFrom(
      (n: number) => `description=${'x'.repeat(n)}`,
      (n: number) =>
        Array.from(
          { length: 999 },
          (_, i) => `metadata[k${i}]=${'v'.repeat(Math.floor(n / 1000) - 20)}`,
        ).join('&'),
      (n: number) => `a${'[b]'.repeat(Math.floor(n / 3))}=1`,
      (n: number) => `items[${'9'.repeat(n - 10)}]=1`,
      (n: number) => 'expand[]=x&'.repeat(Math.floor(n / 11)),
      (n: number) => 'a=1&'.repeat(Math.floor(n / 4)),
      (n: number) => '['.repeat(n),
      (n: number) => `${'%5B'.repeat(Math.floor(n / 3))}=1`,
    );
    fc.assert(
      fc.property(shapes, (shape) => {
        const body = shape(1_000_000);
        const started = performance.now();
        try {
          decodeFormParams(body);
        } catch (error) {
          expect(error).toBeInstanceOf(RequestInvalidError);
        }
        expect(performance.now() - started).toBeLessThan(100);
      }),
      { numRuns: 16 },
    );
  });
});
