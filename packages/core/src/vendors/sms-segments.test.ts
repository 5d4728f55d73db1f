import { countSegments } from '@spendguard/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countSmsSegments } from './sms-segments.ts';

// The segment counter spendguard prices with, and the one the fake Twilio bills with, must agree:
// both run against this one table, and a property test compares them on random bodies.
const COUNTERS = [
  ['core countSmsSegments', countSmsSegments],
  ['testkit countSegments', countSegments],
] as const;

/** GSM 03.38's default alphabet (0x1B, the escape, is not a character), typed from the spec. */
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION = '\f^{}\\[~]|€';
const a = (n: number) => 'a'.repeat(n);
const zh = (n: number) => 'ж'.repeat(n); // one UCS-2 unit, not GSM
const emoji = (n: number) => '😀'.repeat(n); // two UCS-2 units (a surrogate pair)

/** [case, body, encoding, segments] */
const BOUNDARIES: readonly (readonly [string, string, 'GSM-7' | 'UCS-2', number])[] = [
  ['an empty body is one message', '', 'GSM-7', 1],
  ['160 GSM septets fit one SMS', a(160), 'GSM-7', 1],
  ['161 GSM septets are two parts', a(161), 'GSM-7', 2],
  ['306 GSM septets fill two parts of 153', a(306), 'GSM-7', 2],
  ['307 GSM septets are three parts', a(307), 'GSM-7', 3],
  ['the 127 basic characters take one septet each (127 + 33 = 160)', GSM_BASIC + a(33), 'GSM-7', 1],
  ['the 127 basic characters + 34 is 161', GSM_BASIC + a(34), 'GSM-7', 2],
  ['the 10 extension characters take two septets each (20 + 140 = 160)', GSM_EXTENSION + a(140), 'GSM-7', 1],
  ['the 10 extension characters + 141 is 161', GSM_EXTENSION + a(141), 'GSM-7', 2],
  ['capital Ç is GSM (0x09)', 'Ç', 'GSM-7', 1],
  ['small ç is not GSM', 'ç', 'UCS-2', 1],
  ['a backtick is not GSM', '`', 'UCS-2', 1],
  ['80 euro signs are 160 septets', '€'.repeat(80), 'GSM-7', 1],
  ['81 euro signs are 162 septets', '€'.repeat(81), 'GSM-7', 2],
  ['159 + one extension char is 161 septets', `${a(159)}€`, 'GSM-7', 2],
  ['an extension char ending part one exactly (151 + 2, then 153)', `${a(151)}€${a(153)}`, 'GSM-7', 2],
  ['an extension char straddling 153 moves whole to part two', `${a(152)}€${a(152)}`, 'GSM-7', 3],
  ['152 extension chars: two parts of 76', '€'.repeat(152), 'GSM-7', 2],
  ['153 extension chars (306 septets): 76 a part, so three', '€'.repeat(153), 'GSM-7', 3],
  ['70 UCS-2 units fit one SMS', zh(70), 'UCS-2', 1],
  ['71 UCS-2 units are two parts', zh(71), 'UCS-2', 2],
  ['134 UCS-2 units fill two parts of 67', zh(134), 'UCS-2', 2],
  ['135 UCS-2 units are three parts', zh(135), 'UCS-2', 3],
  ['one emoji makes GSM text UCS-2: 68 + 2 = 70 units', `${a(68)}😀`, 'UCS-2', 1],
  ['69 + 2 = 71 units', `${a(69)}😀`, 'UCS-2', 2],
  ['35 emoji are 70 units', emoji(35), 'UCS-2', 1],
  ['36 emoji: 33 a part (66 units)', emoji(36), 'UCS-2', 2],
  ['67 emoji are 134 units but 33 a part, so three', emoji(67), 'UCS-2', 3],
  ['an emoji ending part one exactly (65 + 2, then 67)', `${zh(65)}😀${zh(67)}`, 'UCS-2', 2],
  ['an emoji straddling 67 moves whole to part two', `${zh(66)}😀${zh(66)}`, 'UCS-2', 3],
  ['in UCS-2 an extension char is one unit (69 + 1 = 70)', `${'€'.repeat(69)}ж`, 'UCS-2', 1],
  ['a lone surrogate is one UCS-2 unit', '\ud83d', 'UCS-2', 1],
  ['Chinese', '您的订单已发货', 'UCS-2', 1],
];

describe.each(COUNTERS)('%s', (_name, count) => {
  it.each(BOUNDARIES)('%s', (_case, body, encoding, segments) => {
    expect(count(body)).toEqual({ encoding, segments });
  });
});

const gsmChar = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...GSM_BASIC) },
  { weight: 1, arbitrary: fc.constantFrom(...GSM_EXTENSION) },
);
const anyChar = fc.oneof(
  gsmChar,
  fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)), // lone surrogates too
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((code) => String.fromCodePoint(code)),
);
/** A few runs of one character: long runs of extension chars or emoji reach the part boundaries. */
const runs = (char: fc.Arbitrary<string>) =>
  fc
    .array(fc.tuple(char, fc.integer({ min: 1, max: 170 })), { minLength: 1, maxLength: 4 })
    .map((parts) => parts.map(([c, n]) => c.repeat(n)));
/** All-GSM bodies (GSM-7) and mixed ones (mostly UCS-2), char by char or in runs. */
const body = fc
  .oneof(
    fc.array(gsmChar, { maxLength: 480 }),
    fc.array(anyChar, { maxLength: 220 }),
    runs(gsmChar),
    runs(anyChar),
  )
  .map((chars) => chars.join(''));

it('both counters agree on any body', () => {
  fc.assert(
    fc.property(body, (text) => {
      expect(countSegments(text)).toEqual(countSmsSegments(text));
    }),
    { numRuns: 2000 },
  );
});

it.each(COUNTERS)('%s: appending a character never lowers the count', (_name, count) => {
  fc.assert(
    fc.property(body, anyChar, (text, char) => {
      expect(count(text + char).segments).toBeGreaterThanOrEqual(count(text).segments);
    }),
    { numRuns: 2000 },
  );
});
