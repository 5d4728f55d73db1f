import { expect, it } from 'vitest';
import { parseDuration } from './duration.ts';

it.each([
  ['250ms', 250],
  ['30s', 30_000],
  ['15m', 900_000],
  ['24h', 86_400_000],
  ['7d', 604_800_000],
  [90, 90_000],
  ['1.5h', 5_400_000],
  ['soon', undefined],
  ['10 weeks', undefined],
  [-1, undefined],
] as const)('parseDuration(%j) = %j', (input, ms) => {
  expect(parseDuration(input)).toBe(ms);
});
