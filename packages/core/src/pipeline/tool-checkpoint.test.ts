import { expect, it } from 'vitest';
import { toolCheckpointRequest } from './tool-checkpoint.ts';

it('checkpoints a tool on its name, its billing fields and its context less runId', () => {
  const request = toolCheckpointRequest({
    key: 'k',
    tool: 'charge',
    input: { amount: 500, note: 'thanks' },
    context: { customer: 'alice', runId: 'r1', locale: 'de' },
    fields: ['amount', 'context.customer'],
  });
  expect(request).toMatchObject({ vendor: 'tool', method: 'CALL', path: 'charge' });
  expect(request.params).toEqual({ input: { amount: 500 }, context: { customer: 'alice' } });
  const whole = toolCheckpointRequest({
    key: 'k',
    tool: 'charge',
    input: { amount: 500 },
    context: { runId: 'r1', customer: 'bob' },
  });
  expect(whole.params).toEqual({ input: { amount: 500 }, context: { customer: 'bob' } });
  expect(toolCheckpointRequest({ key: 'k', tool: 't', input: 'x' }).params).toEqual({
    input: 'x',
    context: null,
  });
});
