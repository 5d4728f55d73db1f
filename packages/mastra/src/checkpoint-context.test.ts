import { RequestContext } from '@mastra/core/request-context';
import { RequestInvalidError } from '@spendguard/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkpointContextOf, declaredKeys } from './checkpoint-context.ts';
import { mastraCallOf } from './mastra-call.ts';

function callWith(entries: [string, unknown][], resourceId?: string) {
  return mastraCallOf('charge', {
    runId: 'r1',
    agent: { toolCallId: 'call_1', ...(resourceId !== undefined && { resourceId }) },
    requestContext: new RequestContext(entries as [string, never][]),
  });
}

describe('checkpointContextOf', () => {
  it('keeps only the declared (or named) entries and the resource, as plain JSON; nothing reaches a prototype', () => {
    const key = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('__proto__', 'constructor', 'customer', 'MastraMemory'),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(key, fc.jsonValue({ maxDepth: 3 }))),
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 4 }),
        fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
        (pairs, declared, resourceId) => {
          const schema = z.object(Object.fromEntries(declared.map((k) => [k, z.unknown()])));
          let context: Record<string, unknown>;
          try {
            context = checkpointContextOf(
              { requestContextSchema: schema },
              callWith(pairs, resourceId),
              undefined,
            );
          } catch (error) {
            // A declared entry that is not plain data (a reserved key inside it) is refused plainly.
            expect(RequestInvalidError.isInstance(error)).toBe(true);
            return;
          }
          const present = new Set(pairs.map(([k]) => k));
          const expected = declared.filter((k) => present.has(k) && k !== 'resourceId');
          const keys = Object.keys(context).filter((k) => k !== 'resourceId');
          expect(keys.sort()).toEqual(expected.sort());
          if (resourceId !== undefined) expect(context.resourceId).toBe(resourceId);
          expect(JSON.parse(JSON.stringify(context))).toEqual(context);
          expect(({} as Record<string, unknown>).customer).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });

  it("leaves out Mastra's own entries (the memory thread changes on every call) unless named", () => {
    const memory = { thread: { id: 't', updatedAt: new Date().toISOString() }, resourceId: 'u' };
    const call = callWith(
      [
        ['MastraMemory', memory],
        ['customer', 'cus_1'],
      ],
      'u',
    );
    expect(checkpointContextOf({}, call, undefined)).toEqual({ resourceId: 'u' });
    expect(checkpointContextOf({}, call, ['amount', 'context.customer'])).toEqual({ customer: 'cus_1' });
    expect(checkpointContextOf({}, call, ['context.customer', 'context.resourceId'])).toEqual({
      customer: 'cus_1',
      resourceId: 'u',
    });
  });

  it('refuses a declared entry that is not JSON data, saying which', () => {
    class ApiClient {
      token = 'x';
    }
    const call = callWith([['client', new ApiClient()]]);
    expect(() =>
      checkpointContextOf({ requestContextSchema: z.object({ client: z.any() }) }, call, undefined),
    ).toThrow(/context\.client is a ApiClient/);
  });
});

describe('declaredKeys', () => {
  it("reads a zod object's shape or a JSON Schema's properties; anything else declares nothing", () => {
    expect(declaredKeys(z.object({ a: z.string(), b: z.number() }))).toEqual(['a', 'b']);
    expect(declaredKeys({ type: 'object', properties: { c: {} } })).toEqual(['c']);
    fc.assert(
      fc.property(fc.anything(), (schema) => {
        expect(Array.isArray(declaredKeys(schema))).toBe(true);
      }),
    );
  });
});
