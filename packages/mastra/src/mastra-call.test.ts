import { RequestContext } from '@mastra/core/request-context';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { idOf, MAX_ID_LENGTH, mastraCallOf, requestContextEntries } from './mastra-call.ts';

/** Whatever a context object may hold: JSON, odd values, and objects whose fields throw when read. */
const hostileValue = fc.oneof(
  fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true }),
  fc.constant(
    new Proxy(
      {},
      {
        get() {
          throw new Error('hostile getter');
        },
      },
    ),
  ),
  fc.constant(
    Object.defineProperty({}, 'toolCallId', {
      get() {
        throw new Error('hostile getter');
      },
      enumerable: true,
    }),
  ),
);

const hostileContext = fc.oneof(
  hostileValue,
  fc.record(
    {
      runId: hostileValue,
      agent: fc.oneof(
        hostileValue,
        fc.record({
          toolCallId: hostileValue,
          agentId: hostileValue,
          threadId: hostileValue,
          resourceId: hostileValue,
        }),
      ),
      workflow: fc.oneof(hostileValue, fc.record({ runId: hostileValue, workflowId: hostileValue })),
      requestContext: hostileValue,
      tracingContext: fc.oneof(
        hostileValue,
        fc.record({ currentSpan: fc.oneof(hostileValue, fc.record({ traceId: hostileValue })) }),
      ),
    },
    { requiredKeys: [] },
  ),
);

const isId = (v: unknown) =>
  v === undefined ||
  (typeof v === 'string' && v.length > 0 && (v.length <= MAX_ID_LENGTH || /^sha256:[0-9a-f]{64}$/.test(v)));

describe('mastraCallOf, on whatever a context holds', () => {
  it('never throws, and every id is a bounded non-empty string or nothing', () => {
    fc.assert(
      fc.property(hostileContext, (context) => {
        const call = mastraCallOf('charge', context);
        expect(['agent', 'workflow', 'direct']).toContain(call.site);
        for (const id of [
          call.runId,
          call.toolCallId,
          call.agentId,
          call.threadId,
          call.resourceId,
          call.workflowId,
          call.traceId,
        ]) {
          expect(isId(id)).toBe(true);
        }
        expect(call.requestContext === undefined || typeof call.requestContext.entries === 'function').toBe(
          true,
        );
      }),
      { numRuns: 500 },
    );
  });

  it('reads the run from the workflow in a step, from the agent call otherwise', () => {
    const agent = mastraCallOf('charge', {
      runId: 'r-agent',
      agent: { toolCallId: 'call_1', agentId: 'a', threadId: 't', resourceId: 'u' },
    });
    expect(agent).toMatchObject({
      site: 'agent',
      runId: 'r-agent',
      toolCallId: 'call_1',
      agentId: 'a',
      threadId: 't',
      resourceId: 'u',
    });
    const step = mastraCallOf('charge', {
      runId: 'ignored',
      workflow: { runId: 'r-wf', workflowId: 'bill' },
    });
    expect(step).toMatchObject({
      site: 'workflow',
      runId: 'r-wf',
      workflowId: 'bill',
      toolCallId: undefined,
    });
    expect(mastraCallOf('charge', undefined)).toMatchObject({ site: 'direct', runId: undefined });
  });
});

describe('idOf', () => {
  it('keeps short strings, digests long ones (one digest per value), and drops everything else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: MAX_ID_LENGTH }), (s) => {
        expect(idOf(s)).toBe(s === '' ? undefined : s);
      }),
    );
    fc.assert(
      fc.property(
        fc.string({ minLength: MAX_ID_LENGTH + 1, maxLength: 2000 }),
        fc.string({ minLength: MAX_ID_LENGTH + 1, maxLength: 2000 }),
        (a, b) => {
          expect(idOf(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
          expect(idOf(a)).toBe(idOf(a));
          if (a !== b) expect(idOf(a)).not.toBe(idOf(b));
        },
      ),
    );
    for (const notAnId of [undefined, null, 42, {}, ['call_1'], Symbol('x')])
      expect(idOf(notAnId)).toBeUndefined();
  });
});

describe('requestContextEntries', () => {
  it('copies entries into a null-prototype object: no key reaches a prototype', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort().join();
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString')),
            fc.jsonValue(),
          ),
        ),
        (pairs) => {
          const entries = requestContextEntries(new RequestContext(pairs));
          expect(Object.getPrototypeOf(entries)).toBeNull();
          for (const [key] of pairs) expect(Object.hasOwn(entries, key)).toBe(true);
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      ),
    );
    expect(Object.getOwnPropertyNames(Object.prototype).sort().join()).toBe(before);
  });
});
