import { RunContext, tool } from '@openai/agents';
import { SpendguardError } from '@spendguard/core';
import { expect, it } from 'vitest';
import { z } from 'zod';
import { failureUnhidden, SDK_DEFAULT_TOOL_ERROR } from './hidden-failure.ts';

it("is the text the SDK's default error function gives a tool whose execute throws", async () => {
  const failing = tool({
    name: 'charge',
    description: 'Fails',
    parameters: z.object({ amount: z.number() }),
    execute: async () => {
      throw new Error('card processor down');
    },
  });
  // The SDK formats the failure inside the tool's own invoke: from outside it looks like a result.
  await expect(failing.invoke(new RunContext({}), '{"amount":1}')).resolves.toBe(SDK_DEFAULT_TOOL_ERROR);
});

it('passes any other output through, and throws a SpendguardError for the hidden failure', () => {
  for (const output of ['ok', { chargeId: 'ch_1' }, null, undefined, `${SDK_DEFAULT_TOOL_ERROR} `]) {
    expect(failureUnhidden('charge', output)).toBe(output);
  }
  let thrown: unknown;
  try {
    failureUnhidden('charge', SDK_DEFAULT_TOOL_ERROR);
  } catch (error) {
    thrown = error;
  }
  expect(SpendguardError.isInstance(thrown)).toBe(true);
  expect((thrown as SpendguardError).message).toContain('errorFunction: null');
});
