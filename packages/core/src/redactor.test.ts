import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Credentials } from './credentials.ts';
import { MIN_SECRET_LENGTH, REDACTED, Redactor } from './redactor.ts';

const SECRET = 'sk_live_S3cret/Key+"quoted"\\é';
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('Redactor', () => {
  const redactor = new Redactor([SECRET]);

  it('redacts the raw secret, every occurrence', () => {
    expect(redactor.redact(`key ${SECRET} and again ${SECRET}.`)).toBe(
      `key ${REDACTED} and again ${REDACTED}.`,
    );
  });

  it('returns text without a secret unchanged', () => {
    const text = 'Invalid API Key provided: sk_live_****Key';
    expect(redactor.redact(text)).toBe(text);
  });

  it('redacts it URL-encoded: encodeURIComponent, form encoding, lower-case hex', () => {
    const spaced = new Redactor(['to ken*with~spaces!']);
    const form = new URLSearchParams({ token: 'to ken*with~spaces!' }).toString();
    expect(form).toBe('token=to+ken*with%7Espaces%21');
    expect(spaced.redact(form)).toBe(`token=${REDACTED}`);
    expect(spaced.redact(`?token=${encodeURIComponent('to ken*with~spaces!')}`)).toBe(`?token=${REDACTED}`);
    const lower = encodeURIComponent(SECRET).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase());
    expect(redactor.redact(`url=${lower}`)).toBe(`url=${REDACTED}`);
  });

  it('redacts base64 and base64url of the secret alone', () => {
    expect(redactor.redact(`echo ${b64(SECRET)} end`)).toBe(`echo ${REDACTED} end`);
    const url = Buffer.from(SECRET).toString('base64url');
    expect(redactor.redact(`echo ${url} end`)).toBe(`echo ${REDACTED} end`);
  });

  it.each([
    ['no user (offset 1)', ''],
    ['a one-byte user (offset 2)', 'a'],
    ['a two-byte user (offset 3 = 0)', 'ab'],
    ['a Twilio Account SID', `AC${'0'.repeat(32)}`],
  ])('redacts the secret inside base64 of the Basic pair, with %s', (_, user) => {
    const pair = b64(`${user}:${SECRET}`);
    const out = redactor.redact(`Authorization: Basic ${pair}`);
    expect(out).toContain(REDACTED);
    // What is left: the user's characters and the partial ones at the edges, never the secret's.
    const [kept = '', tail = ''] = out.slice('Authorization: Basic '.length).split(REDACTED);
    expect(pair.startsWith(kept)).toBe(true);
    expect(kept.length).toBeLessThanOrEqual(Math.ceil(((Buffer.byteLength(user) + 1) * 8) / 6));
    expect(tail.length).toBeLessThanOrEqual(3);
  });

  it('redacts the secret followed by more bytes in base64 (`secret:`, as Stripe takes Basic auth)', () => {
    const out = redactor.redact(`Basic ${b64(`${SECRET}:`)}`);
    expect(out).toMatch(/^Basic \[redacted\].{0,4}$/);
  });

  it('redacts it as JSON writes it: escaped once, with \\/, with \\u escapes, and nested twice', () => {
    const json = JSON.stringify({ message: `bad key ${SECRET}` });
    expect(json).toContain('\\"quoted\\"'); // the raw secret is not in it
    expect(redactor.redact(json)).toBe(JSON.stringify({ message: `bad key ${REDACTED}` }));
    const php = json.replaceAll('/', '\\/');
    expect(redactor.redact(php)).toBe(JSON.stringify({ message: `bad key ${REDACTED}` }));
    const python = json.replace('é', '\\u00e9');
    expect(redactor.redact(python)).toBe(JSON.stringify({ message: `bad key ${REDACTED}` }));
    const stored = JSON.stringify({ body: json });
    expect(redactor.redact(stored)).toBe(
      JSON.stringify({ body: JSON.stringify({ message: `bad key ${REDACTED}` }) }),
    );
  });

  it('ignores secrets shorter than 8 characters, and undefined ones', () => {
    expect(MIN_SECRET_LENGTH).toBe(8);
    const short = new Redactor(['1234567', undefined, '']);
    expect(short.redact('pin 1234567')).toBe('pin 1234567');
    short.add('12345678');
    expect(short.redact('pin 12345678')).toBe(`pin ${REDACTED}`);
  });

  it('takes secrets added later, and merges overlapping ones into one marker', () => {
    const several = new Redactor(['abcdefgh']);
    several.add('efghijkl');
    expect(several.redact('xx abcdefghijkl yy efghijkl')).toBe(`xx ${REDACTED} yy ${REDACTED}`);
  });

  it('leaves no secret that a marker and the text beside it spell again', () => {
    // `[redacted]` followed by `aaaaaaa` ends in `]aaaaaaa`, the secret itself.
    const tricky = new Redactor([']aaaaaaa']);
    const out = tricky.redact(']aaaaaaaaaaaaaa and more');
    expect(out).not.toContain(']aaaaaaa');
    expect(out).toBe(`${REDACTED} and more`);
  });

  it('is fast: a megabyte of text with secrets in it, well under a second', () => {
    const many = new Redactor([SECRET, 'twilio_token_0123456789abcdef', 're_resend_key_abcdefgh']);
    const text = `${'lorem ipsum dolor sit amet '.repeat(40_000)}${b64(`AC1:${SECRET}`)}`;
    const started = performance.now();
    const out = many.redact(text);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(out).toContain(REDACTED);
  });
});

describe('Credentials', () => {
  const ENV = 'SPENDGUARD_TEST_REDACTOR_SECRET';
  afterEach(() => {
    delete process.env[ENV];
  });

  it('redacts every secret it resolved, in every form, and nothing before it resolved one', () => {
    process.env[ENV] = SECRET;
    const credentials = new Credentials({ stripe: { env: ENV } });
    expect(credentials.redact(b64(SECRET))).toBe(b64(SECRET));
    credentials.resolve('stripe');
    expect(credentials.redact(`raw ${SECRET}`)).toBe(`raw ${REDACTED}`);
    expect(credentials.redact(`basic ${b64(`AC1:${SECRET}`)}`)).toContain(REDACTED);
    expect(credentials.redact(`url ${encodeURIComponent(SECRET)}`)).toBe(`url ${REDACTED}`);
  });
});

/** The secret in the encodings a vendor might echo it in, written by the platform, not the redactor. */
function encodings(secret: string, user: string): Record<string, string> {
  return {
    raw: secret,
    uri: encodeURIComponent(secret),
    form: new URLSearchParams({ q: secret }).toString().slice(2),
    base64: b64(secret),
    basic: b64(`${user}:${secret}`),
    base64url: Buffer.from(`${user}:${secret}`).toString('base64url'),
    json: JSON.stringify(secret).slice(1, -1),
    jsonTwice: JSON.stringify(JSON.stringify(secret)).slice(1, -1),
  };
}

/**
 * What must not survive of an encoding: the encoding itself, and for base64 every 8 characters
 * made only of the secret's bits (the secret starts `offset` bytes into what was encoded).
 */
function leaks(encoding: string, encoded: string, secret: string, offset: number): string[] {
  if (!encoding.startsWith('base64') && encoding !== 'basic') return [encoded];
  const first = Math.ceil((offset * 8) / 6);
  const end = Math.floor(((offset + Buffer.byteLength(secret)) * 8) / 6);
  const windows = [encoded];
  for (let at = first; at + 8 <= end; at++) windows.push(encoded.slice(at, at + 8));
  return windows;
}

describe('Redactor property', () => {
  const SPECIALS = ['"', '\\', '/', ' ', '+', '%', '=', ':', '[', ']', 'd', 'é', '€', '😀', '\n'];
  const char = fc.oneof(
    fc.constantFrom(...SPECIALS),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  );
  const secretArb = fc.string({ unit: char, minLength: MIN_SECRET_LENGTH, maxLength: 40 });
  const textArb = fc.string({ unit: char, maxLength: 30 });

  it('leaves none of the encodings of a secret embedded in random text in any of them', () => {
    fc.assert(
      fc.property(
        secretArb,
        fc.string({ unit: char, maxLength: 12 }),
        textArb,
        textArb,
        fc.constantFrom(...Object.keys(encodings('x', ''))),
        (secret, user, before, after, encoding) => {
          const all = encodings(secret, user);
          // A secret that is part of the marker itself (`redacted`) can't be told apart from it.
          fc.pre(Object.values(all).every((e) => !REDACTED.includes(e)));
          const out = new Redactor([secret]).redact(`${before}${all[encoding]}${after}`);
          for (const [name, encoded] of Object.entries(all)) {
            const offset = name === 'basic' || name === 'base64url' ? Buffer.byteLength(`${user}:`) : 0;
            for (const leak of leaks(name, encoded, secret, offset)) expect(out).not.toContain(leak);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
