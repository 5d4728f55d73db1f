import { type Guard, RunKeys } from '@spendguard/core';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { runIdOf } from './run-id.ts';

// Only the default run id is read: no key is derived here.
const runKeys = new RunKeys({ guard: {} as Guard, key: 'sk_sg_unused', runId: 'toolset-run' });

it("takes a non-empty runId string of the run's context, else the toolset's", () => {
  expect(runIdOf({ runId: 'thread-42', customer: 'cus_1' }, runKeys)).toBe('thread-42');
  expect(runIdOf({ customer: 'cus_1' }, runKeys)).toBe('toolset-run');
  expect(runIdOf({ runId: '' }, runKeys)).toBe('toolset-run');
  expect(runIdOf({ runId: 42 }, runKeys)).toBe('toolset-run');
  expect(runIdOf(undefined, runKeys)).toBe('toolset-run');
  // A runId inherited through the prototype is not the app's.
  expect(runIdOf(Object.create({ runId: 'inherited' }), runKeys)).toBe('toolset-run');
  // A long or odd one is kept as a digest: the same run, a bounded id.
  expect(runIdOf({ runId: 'x'.repeat(500) }, runKeys)).toMatch(/^sha256:[0-9a-f]{32}$/);
});

it('never throws for any context, and always names a bounded run', () => {
  fc.assert(
    fc.property(
      fc.anything({ withObjectString: true, withNullPrototype: true, withBigInt: true }),
      (context) => {
        const runId = runIdOf(context, runKeys);
        expect(typeof runId).toBe('string');
        expect([...runId].length).toBeLessThanOrEqual(128);
      },
    ),
    { numRuns: 500 },
  );
});
