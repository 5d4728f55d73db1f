import { ToolCallError } from '@openai/agents';
import { RunStoppedError, SpendguardError } from '@spendguard/core';
import { expect, it, vi } from 'vitest';
import { runStoppedErrorOf } from './run-stopped.ts';

const stopped = new RunStoppedError('the run key was revoked', { code: 'key_revoked' });

it("finds the RunStoppedError in the SDK's ToolCallError, in a cause, or as the error itself", () => {
  expect(runStoppedErrorOf(stopped)).toBe(stopped);
  expect(runStoppedErrorOf(new ToolCallError(`Failed to run function tools: ${stopped}`, stopped))).toBe(
    stopped,
  );
  expect(runStoppedErrorOf(new Error('stream ended', { cause: stopped }))).toBe(stopped);
});

it('is undefined for any other failure, a cycle included', () => {
  expect(runStoppedErrorOf(new ToolCallError('boom', new Error('boom')))).toBeUndefined();
  expect(runStoppedErrorOf(new SpendguardError('store_unavailable', 'down'))).toBeUndefined();
  expect(runStoppedErrorOf(undefined)).toBeUndefined();
  expect(runStoppedErrorOf('key_revoked')).toBeUndefined();
  const cycle: { cause?: unknown } = {};
  cycle.cause = cycle;
  expect(runStoppedErrorOf(cycle)).toBeUndefined();
});

it('recognises the error of another installed copy of core', async () => {
  vi.resetModules();
  const copy = await import('@spendguard/core');
  expect(copy.RunStoppedError).not.toBe(RunStoppedError);
  const other = new copy.RunStoppedError('expired', { code: 'key_expired' });
  expect(runStoppedErrorOf(new ToolCallError('x', other))).toBe(other);
});
