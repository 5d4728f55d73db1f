import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, contentHash, jsonQuote } from './canonical-json.ts';

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('writes one form per number', () => {
    expect(canonicalJson({ amount: 5e3 })).toBe(canonicalJson({ amount: 5000.0 }));
    expect(canonicalJson(0.1 + 0.2)).toBe('0.30000000000000004');
  });

  it('keeps array order, because it means something', () => {
    expect(contentHash([1, 2])).not.toBe(contentHash([2, 1]));
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJson({ amount: Number.NaN })).toThrow(/not representable/);
    expect(() => canonicalJson(Number.POSITIVE_INFINITY)).toThrow(/not representable/);
  });

  it.each([
    ['a Map', { m: new Map([['a', 1]]) }, /Map at \$\.m/],
    ['a Set', { s: new Set([1]) }, /Set at \$\.s/],
    ['a Date', { when: new Date(0) }, /Date at \$\.when/],
    ['a BigInt', { amount: 10n }, /bigint at \$\.amount/],
    ['a class instance', { order: new (class Order {})() }, /Order at \$\.order/],
    ['a function', { f: () => 1 }, /function at \$\.f/],
    ['a symbol', [Symbol('x')], /symbol at \$\[0\]/],
    ['a value nested 100 deep', JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`), /deeper than 64/],
  ])('refuses %s with a clear error instead of hashing it as {}', (_name, value, message) => {
    expect(() => canonicalJson(value)).toThrow(message);
  });

  it('hashes composed and decomposed accents as one text, in keys and values', () => {
    const composed = { 'caf\u00e9': 'Z\u00fcrich' };
    const decomposed = { 'cafe\u0301': 'Zu\u0308rich' };
    expect(contentHash(composed)).toBe(contentHash(decomposed));
    expect(() => canonicalJson({ 'caf\u00e9': 1, 'cafe\u0301': 2 })).toThrow(
      /same text once Unicode-normalised/,
    );
  });

  it('form-encoded: a number, a boolean and null are the text the vendor reads', () => {
    const opts = { formEncoded: true };
    expect(contentHash({ amount: 5000, capture: true }, opts)).toBe(
      contentHash({ amount: '5000', capture: 'true' }, opts),
    );
    expect(contentHash({ amount: 5e3 }, opts)).toBe(contentHash({ amount: '5000' }, opts));
    expect(contentHash({ description: null }, opts)).toBe(contentHash({ description: '' }, opts));
    // Texts the vendor can tell apart stay apart.
    expect(contentHash({ amount: '5000' }, opts)).not.toBe(contentHash({ amount: '5000.0' }, opts));
    expect(contentHash({ amount: '5000' }, opts)).not.toBe(contentHash({ amount: '05000' }, opts));
    // A JSON vendor tells a number from a string.
    expect(contentHash({ amount: 5000 })).not.toBe(contentHash({ amount: '5000' }));
  });
});

/** JSON values whose strings are already NFC, so RFC 8785 and our normalising form agree. */
const nfcString = fc.string({ unit: 'grapheme', maxLength: 8 }).map((s) => s.normalize('NFC'));
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    nfcString,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(nfcString, tie('value'), { maxKeys: 5 }),
  ),
})).value;

describe('canonicalJson properties', () => {
  it('is RFC 8785: the same text as the canonicalize reference implementation', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        expect(canonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 1000 },
    );
  });

  it('does not depend on key order, and parses back to an equal value', () => {
    fc.assert(
      fc.property(fc.dictionary(nfcString, jsonValue, { maxKeys: 8 }), (record) => {
        const reversed = Object.fromEntries(Object.entries(record).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(record));
        expect(JSON.parse(canonicalJson(record))).toEqual(JSON.parse(JSON.stringify(record)));
      }),
      { numRuns: 500 },
    );
  });

  it('jsonQuote writes every string as JSON.stringify does (controls, quotes, lone surrogates, any code point)', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.string({
        unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)),
        maxLength: 12,
      }),
      fc.string({ unit: fc.integer({ min: 0xd700, max: 0xe000 }).map((c) => String.fromCharCode(c)) }),
    );
    fc.assert(
      fc.property(text, (value) => {
        expect(jsonQuote(value)).toBe(JSON.stringify(value));
      }),
      { numRuns: 2000 },
    );
  });
});
