import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../test-helpers.ts';
import { PRIMITIVES_TEST_LUA } from './library.ts';

const redis = new Redis(TEST_REDIS_URL);
afterAll(() => redis.quit());

/** Run one Lua primitive over many inputs in one EVAL. */
async function lua(
  fn: 'jstr' | 'jsnum' | 'usd' | 'fixed2' | 'iso' | 'isMicros',
  inputs: string[],
): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < inputs.length; i += 5000) {
    const chunk = inputs.slice(i, i + 5000);
    out.push(...((await redis.call('EVAL', [PRIMITIVES_TEST_LUA, 0, '', '', '', fn, ...chunk])) as string[]));
  }
  return out;
}

function randomDouble(): number {
  const bytes = randomBytes(8);
  const x = bytes.readDoubleLE(0);
  return Number.isFinite(x) ? x : 1.5;
}

describe('Lua primitives match JavaScript', () => {
  it('jstr escapes a string exactly like JSON.stringify', async () => {
    const inputs: string[] = [];
    for (let c = 0; c < 0x80; c++) inputs.push(`a${String.fromCharCode(c)}b`);
    inputs.push(
      '',
      'é',
      '中文',
      '😀 emoji',
      '\u2028\u2029',
      '\ufeff',
      'quote " and \\ backslash',
      '</script>',
    );
    inputs.push('tab\tnew\nline\rcr\bback\fform\u0000nul\u001fus');
    const got = await lua('jstr', inputs);
    expect(got).toEqual(inputs.map((s) => JSON.stringify(s)));
  });

  it('jsnum prints a number exactly like String(number)', async () => {
    const values = [
      0,
      1,
      -1,
      0.5,
      0.0079,
      86.95,
      321.95,
      2.35,
      0.1 + 0.2,
      1 / 3,
      2 / 3,
      1e21,
      1e20,
      123456789012345680000,
      1e-6,
      1e-7,
      1.5e-7,
      5e-324,
      1.7976931348623157e308,
      2 ** 53,
      2 ** 53 + 2,

      100,
      1e15,
      0.000001,
      0.0000015,
      12345.678,
      -0.0079,
      4.35,
      1.005,
      8.675,
    ];
    for (let i = 0; i < 3000; i++) values.push(randomDouble());
    for (let i = 0; i < 3000; i++)
      values.push(Math.round(Math.random() * 10 ** (1 + (i % 12))) / 10 ** (i % 7));
    const got = await lua(
      'jsnum',
      values.map((v) => String(v)),
    );
    expect(got).toEqual(values.map((v) => String(v)));
  });

  it('usdText(micros) prints micros / 1e6 like String(micros / 1e6), past 15 digits too', async () => {
    const micros = [0, 1, 7900, 86_950_000, 235_000, 321_950_000, 999_999, 1_000_000, 123_456_789_012];
    micros.push(999_999_999_999_999, 1_000_000_000_000_000, 1_000_000_000_000_001, Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < 5000; i++) micros.push(Math.floor(Math.random() * 10 ** (1 + (i % 16))));
    const got = await lua(
      'usd',
      micros.map((m) => String(m)),
    );
    expect(got).toEqual(micros.map((m) => String(m / 1_000_000)));
  });

  it('fixed2(micros) formats like (micros / 1e6).toFixed(2), ties included', async () => {
    const micros: number[] = [];
    // Every half cent up to $200: the exact ties ($0.125, $0.625, …) and the inexact ones ($0.015).
    for (let m = 0; m <= 200_000_000; m += 5000) micros.push(m);
    for (let i = 0; i < 5000; i++) micros.push(Math.floor(Math.random() * 10 ** (1 + (i % 13))));
    micros.push(-5000, -125_000, -1, 88_000_000, 86_950_000);
    const got = await lua(
      'fixed2',
      micros.map((m) => String(m)),
    );
    expect(got).toEqual(micros.map((m) => (m / 1_000_000).toFixed(2)));
  });

  it('iso(ms) formats like new Date(ms).toISOString() from 1970 to 9999, leap days and fractions included', async () => {
    const LAST = Date.parse('9999-12-31T23:59:59.999Z');
    const times = [0, 1, 999, 86_399_999, 86_400_000, LAST, 1_795_000_000_000.75];
    for (const day of ['2000-02-29', '2100-02-28', '2100-03-01', '2024-12-31', '1972-02-29', '2400-02-29']) {
      times.push(Date.parse(`${day}T00:00:00.000Z`), Date.parse(`${day}T23:59:59.999Z`));
    }
    for (let i = 0; i < 5000; i++) times.push(Math.floor(Math.random() * LAST));
    const got = await lua(
      'iso',
      times.map((t) => String(t)),
    );
    expect(got).toEqual(times.map((t) => new Date(t).toISOString()));
  });

  it('isMicros accepts exactly what String(x) prints for a whole number of micro-dollars below 2^53', async () => {
    const values = [
      0,
      -0,
      1,
      1_500_000,
      Number.MAX_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER + 1,
      2 ** 60,
      1e21,
      -1,
      -1_500_000,
      0.5,
      1.5,
      5e-324,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ];
    for (let i = 0; i < 2000; i++) values.push(randomDouble(), Math.floor(Math.random() * 10 ** (i % 17)));
    const got = await lua(
      'isMicros',
      values.map((v) => String(v)),
    );
    expect(got).toEqual(values.map((v) => (Number.isSafeInteger(v) && v >= 0 ? '1' : '0')));
  });

  it('isMicros refuses text tonumber would read as a number', async () => {
    // Lua 5.1's tonumber is strtod: it reads all of these, so the check must not rely on it.
    const texts = [
      'NaN',
      'nan',
      'inf',
      '-inf',
      'Infinity',
      '1e400',
      '1e3',
      '0x10',
      ' 5',
      '5 ',
      '+5',
      '-0',
      '',
    ];
    texts.push('9007199254740992', '99999999999999999', '1'.repeat(400));
    expect(await lua('isMicros', texts)).toEqual(texts.map(() => '0'));
  });
});
