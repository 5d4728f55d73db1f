import { expect, it } from 'vitest';
import { countSmsSegments } from './sms-segments.ts';

it.each([
  ['empty', '', 'GSM-7', 1],
  ['160 GSM chars', 'a'.repeat(160), 'GSM-7', 1],
  ['161 GSM chars', 'a'.repeat(161), 'GSM-7', 2],
  ['306 GSM chars (2 × 153)', 'a'.repeat(306), 'GSM-7', 2],
  ['307 GSM chars', 'a'.repeat(307), 'GSM-7', 3],
  ['80 euro signs (2 septets each)', '€'.repeat(80), 'GSM-7', 1],
  ['81 euro signs', '€'.repeat(81), 'GSM-7', 2],
  ['GSM accents', 'Café à Zürich, ñ ü ø Å', 'GSM-7', 1],
  ['70 UCS-2 chars', 'ж'.repeat(70), 'UCS-2', 1],
  ['71 UCS-2 chars', 'ж'.repeat(71), 'UCS-2', 2],
  ['134 UCS-2 chars (2 × 67)', 'ж'.repeat(134), 'UCS-2', 2],
  ['one emoji turns a long GSM body into UCS-2', `${'a'.repeat(69)}😀`, 'UCS-2', 2],
  ['35 emoji are 70 UTF-16 units', '😀'.repeat(35), 'UCS-2', 1],
  ['Chinese', '您的订单已发货', 'UCS-2', 1],
])('%s', (_name, body, encoding, segments) => {
  expect(countSmsSegments(body)).toEqual({ encoding, segments });
});
