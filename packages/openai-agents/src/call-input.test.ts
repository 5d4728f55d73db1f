import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attributionId, parsedArguments, rawCallIdOf, toolCallIdOf } from './call-input.ts';

const DIGEST = /^sha256:[0-9a-f]{32}$/;
/** What an audit row may carry: no control, format or separator character, at most 128 code points. */
const BOUNDED = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]{1,128}$/u;

describe('parsedArguments', () => {
  it('is the parsed JSON of any string that is JSON, and undefined for any that is not; it never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string(), fc.string({ unit: 'binary' })), (text) => {
        let expected: { value: unknown } | undefined;
        try {
          expected = { value: JSON.parse(text) };
        } catch {
          expected = undefined;
        }
        expect(parsedArguments(text)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses what is not a string, and JSON nested past what JSON.parse can take', () => {
    expect(parsedArguments(undefined)).toBeUndefined();
    expect(parsedArguments({ amount: 1 })).toBeUndefined();
    expect(() => parsedArguments('['.repeat(1_000_000))).not.toThrow();
  });
});

describe('attributionId', () => {
  it('keeps a plain id as it is and turns anything else into a digest: bounded, deterministic, no control characters', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.string({ minLength: 129, maxLength: 2000 }),
        ),
        (id) => {
          const recorded = attributionId(id);
          expect(recorded).toMatch(BOUNDED);
          expect(attributionId(id)).toBe(recorded);
          if (recorded !== id) expect(recorded).toMatch(DIGEST);
        },
      ),
      { numRuns: 500 },
    );
    expect(attributionId('call_abc123')).toBe('call_abc123');
    expect(attributionId('Billing Agent (EU)')).toBe('Billing Agent (EU)');
    expect(attributionId('')).toMatch(DIGEST);
    expect(attributionId('call\n1')).toMatch(DIGEST);
    expect(attributionId('call\u202e1')).toMatch(DIGEST); // a bidi override
    expect(attributionId('x'.repeat(129))).toMatch(DIGEST);
    expect(attributionId('a\u0000b')).not.toBe(attributionId('a\u0000c'));
  });
});

describe('toolCallIdOf', () => {
  it("reads the SDK's details.toolCall.callId from anything without throwing", () => {
    fc.assert(
      fc.property(fc.anything(), (details) => {
        const id = toolCallIdOf(details);
        expect(id === undefined || BOUNDED.test(id)).toBe(true);
      }),
    );
    expect(toolCallIdOf({ toolCall: { callId: 'call_1' } })).toBe('call_1');
    expect(rawCallIdOf({ toolCall: { callId: '' } })).toBeUndefined();
    expect(rawCallIdOf({ toolCall: { callId: 42 } })).toBeUndefined();
  });
});
