import { expect, it } from 'vitest';
import { type FaultRequest, Faults, type StripeFault } from './faults.ts';

const request = (path: string): FaultRequest => ({
  method: 'POST',
  path,
  params: {},
  idempotencyKey: undefined,
});

it('applies a fault once by default, then disarms it', () => {
  const faults = new Faults();
  faults.inject({ kind: 'rate_limit' });
  expect(faults.take(request('/a'), ['rate_limit'])).toEqual({ kind: 'rate_limit' });
  expect(faults.take(request('/a'), ['rate_limit'])).toBeUndefined();
  expect(faults.pending()).toEqual([]);
});

it('counts `times` and skips requests `match` refuses', () => {
  const faults = new Faults();
  faults.inject({ kind: 'fail_after_act' }, { times: 2, match: (r) => r.path === '/refunds' });
  expect(faults.take(request('/charges'), ['fail_after_act'])).toBeUndefined();
  expect(faults.take(request('/refunds'), ['fail_after_act'])).toBeDefined();
  expect(faults.pending()).toEqual([{ fault: { kind: 'fail_after_act' }, remaining: 1 }]);
  expect(faults.take(request('/refunds'), ['fail_after_act'])).toBeDefined();
  expect(faults.take(request('/refunds'), ['fail_after_act'])).toBeUndefined();
});

it('takes only the kinds asked for, first armed first', () => {
  const faults = new Faults<StripeFault>();
  faults.inject({ kind: 'card_decline' });
  faults.inject({ kind: 'latency', ms: 5 });
  faults.inject({ kind: 'latency', ms: 10 });
  expect(faults.take(request('/a'), ['rate_limit', 'fail_after_act'])).toBeUndefined();
  expect(faults.take(request('/a'), ['latency'])).toEqual({ kind: 'latency', ms: 5 });
  expect(faults.take(request('/a'), ['card_decline'])).toEqual({ kind: 'card_decline' });
});

it('applies forever with times: Infinity, until cleared', () => {
  const faults = new Faults();
  faults.inject({ kind: 'rate_limit' }, { times: Number.POSITIVE_INFINITY });
  for (let i = 0; i < 5; i++) expect(faults.take(request('/a'), ['rate_limit'])).toBeDefined();
  faults.clear();
  expect(faults.take(request('/a'), ['rate_limit'])).toBeUndefined();
});

it('refuses times below 1', () => {
  expect(() => new Faults().inject({ kind: 'rate_limit' }, { times: 0 })).toThrow(RangeError);
});
