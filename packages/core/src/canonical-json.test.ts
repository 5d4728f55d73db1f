import { describe, expect, it } from 'vitest';
import { canonicalJson, contentHash } from './canonical-json.ts';

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
});
