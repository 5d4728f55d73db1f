import { expect, it } from 'vitest';
import { countSegments } from './segments.ts';

it.each([
  ['empty', '', 'GSM-7', 0],
  ['160 GSM characters', 'a'.repeat(160), 'GSM-7', 1],
  ['161 GSM characters', 'a'.repeat(161), 'GSM-7', 2],
  ['306 GSM characters', 'a'.repeat(306), 'GSM-7', 2],
  ['307 GSM characters', 'a'.repeat(307), 'GSM-7', 3],
  ['GSM accents (é, ñ, Ä)', `éñÄ${'a'.repeat(157)}`, 'GSM-7', 1],
  ['80 euro signs (two septets each)', '€'.repeat(80), 'GSM-7', 1],
  ['81 euro signs', '€'.repeat(81), 'GSM-7', 2],
  ['an escape pair not split across parts', `${'a'.repeat(152)}€${'a'.repeat(152)}`, 'GSM-7', 3],
  ['70 UCS-2 characters', 'ж'.repeat(70), 'UCS-2', 1],
  ['71 UCS-2 characters', 'ж'.repeat(71), 'UCS-2', 2],
  ['one emoji turns GSM text into UCS-2', `${'a'.repeat(68)}🙂`, 'UCS-2', 1],
  ['134 UCS-2 units', 'ж'.repeat(134), 'UCS-2', 2],
  ['135 UCS-2 units', 'ж'.repeat(135), 'UCS-2', 3],
  ['a surrogate pair not split across parts', `${'ж'.repeat(66)}🙂${'ж'.repeat(66)}`, 'UCS-2', 3],
] as const)('%s', (_name, body, encoding, segments) => {
  expect(countSegments(body)).toEqual({ encoding, segments });
});
