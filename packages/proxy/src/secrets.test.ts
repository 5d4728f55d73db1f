import type { EchoEncoding } from '@spendguard/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SECRETS, startWorld, type World } from './test-world.ts';

// Requests that carry the real secrets and the request's own vault key (in every encoding), and
// other vault tokens (raw), in headers, paths, queries and bodies, against fake vendors that echo the credential they received (raw,
// URL-encoded, base64, as a Basic pair) in their answers, successful and failed. No form of a
// secret or a token may come out in a response (body or headers), a log line or /metrics.

let world: World;
let runToken: string;

beforeAll(async () => {
  world = await startWorld();
  runToken = (await world.guard.keys.derive(world.rootToken, { runId: 'secrets' })).token;
});
afterAll(() => world.close());

/** Every text form a secret could leak in: raw, URL- and form-encoded, base64(url) at any offset. */
function formsOf(secret: string): string[] {
  const forms = [secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)];
  for (const offset of [0, 1, 2]) {
    // The characters that encode only the secret's own bytes, wherever it sits in a longer text.
    const middle = Buffer.from(`${'x'.repeat(offset)}${secret}x`)
      .toString('base64')
      .slice(4, -4);
    forms.push(middle, middle.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return forms;
}

/** Which secret's forms occur in a text (none, we expect). */
function leaks(text: string): string[] {
  const found: string[] = [];
  const secrets: Record<string, string> = { ...SECRETS, root: world.rootToken, run: runToken };
  for (const [name, secret] of Object.entries(secrets)) {
    if (formsOf(secret).some((form) => text.includes(form))) found.push(name);
  }
  return found;
}

/** A secret written as the agent might send it. */
function written(secret: string, encoding: 'raw' | 'url' | 'base64' | 'basic'): string {
  switch (encoding) {
    case 'raw':
      return secret;
    case 'url':
      return encodeURIComponent(secret);
    case 'base64':
      return Buffer.from(secret).toString('base64');
    case 'basic':
      return Buffer.from(`AC123:${secret}`).toString('base64');
  }
}

const secretArb = fc.constantFrom<keyof typeof SECRETS | 'root' | 'run'>(
  'stripe',
  'twilio',
  'resend',
  'root',
  'run',
);
const encodingArb = fc.constantFrom('raw', 'url', 'base64', 'basic') satisfies fc.Arbitrary<EchoEncoding>;
const secretOf = (name: keyof typeof SECRETS | 'root' | 'run') =>
  name === 'root' ? world.rootToken : name === 'run' ? runToken : SECRETS[name];

/** Where the agent puts the secret, and how the request is built around it. */
const placeArb = fc.constantFrom(
  'x-request-id',
  'other-header',
  'path',
  'query',
  'refused-param',
  'free-param',
  'authorization',
);

/** One request through the proxy, with the fake's echo armed; returns everything it showed. */
async function exchange(
  vendor: 'stripe' | 'twilio',
  place: string,
  value: string,
  echo: EchoEncoding,
  failure: 'none' | 'fail_after_act' | 'rate_limit',
): Promise<string> {
  const fake = vendor === 'stripe' ? world.stripe : world.twilio;
  fake.faults.clear();
  fake.faults.inject({ kind: 'echo_credential', encoding: echo });
  if (failure !== 'none') fake.faults.inject({ kind: failure });
  const account = world.twilio.accountSid;
  const key = place === 'authorization' ? value : runToken;
  const headers: Record<string, string> = {
    authorization:
      vendor === 'twilio' ? `Basic ${Buffer.from(`${account}:${key}`).toString('base64')}` : `Bearer ${key}`,
    'content-type': 'application/x-www-form-urlencoded',
  };
  if (place === 'x-request-id') headers['x-request-id'] = value;
  if (place === 'other-header') headers['x-agent-note'] = value;
  const nonce = Math.random().toString(36).slice(2); // a new call each time, not a replay
  let path: string;
  let body: string;
  if (vendor === 'stripe') {
    path = place === 'path' ? `/stripe/v1/charges/${value}` : '/stripe/v1/customers';
    body =
      place === 'refused-param'
        ? new URLSearchParams({ amount: '100', currency: value, source: 'tok_visa' }).toString()
        : new URLSearchParams({
            name: `n${nonce}`,
            ...(place === 'free-param' && { description: value }),
          }).toString();
  } else {
    path =
      place === 'path'
        ? `/twilio/2010-04-01/Accounts/${value}/Messages.json`
        : `/twilio/2010-04-01/Accounts/${account}/Messages.json`;
    body = new URLSearchParams({
      To: place === 'refused-param' ? value : '+15551230001',
      From: '+15550000000',
      Body: place === 'free-param' ? value : `hello ${nonce}`,
    }).toString();
  }
  if (place === 'query') path += `?expand[]=${encodeURIComponent(value)}`;
  const response = await fetch(`${world.proxy.url}${path}`, {
    method: place === 'path' && vendor === 'stripe' ? 'GET' : 'POST',
    headers,
    ...(!(place === 'path' && vendor === 'stripe') && { body }),
    signal: AbortSignal.timeout(5000),
  });
  const shown = [...response.headers].map(([name, v]) => `${name}: ${v}`);
  shown.push(await response.text());
  return shown.join('\n');
}

it('never lets a secret or a vault token out: responses, log lines and metrics', async () => {
  // As a running proxy has, the guard has resolved each vendor's credential once (its redactor
  // knows a secret from then on).
  for (const vendor of ['stripe', 'twilio'] as const) await exchange(vendor, 'none', '', 'raw', 'none');
  const email = { from: 'a@example.com', to: 'b@example.com', subject: 'warm-up' };
  await fetch(`${world.proxy.url}/resend/emails`, {
    method: 'POST',
    headers: { authorization: `Bearer ${runToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(email),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('stripe', 'twilio') satisfies fc.Arbitrary<'stripe' | 'twilio'>,
      placeArb,
      secretArb,
      encodingArb,
      encodingArb,
      fc.constantFrom('none', 'fail_after_act', 'rate_limit') satisfies fc.Arbitrary<
        'none' | 'fail_after_act' | 'rate_limit'
      >,
      async (vendor, place, secret, sentAs, echo, failure) => {
        const encoded = sentAs === 'base64' || sentAs === 'basic';
        // Out of scope, as data the agent chose to send: a vault token it encodes itself into a
        // param the vendor stores and shows back (a raw one is refused, see proxy.test.ts), and an
        // encoded token other than the request's own key (the proxy cannot know every token).
        fc.pre(!(encoded && (secret === 'root' || (secret === 'run' && place === 'free-param'))));
        const shown = await exchange(vendor, place, written(secretOf(secret), sentAs), echo, failure);
        expect(leaks(shown), shown).toEqual([]);
      },
    ),
    { numRuns: 400 },
  );
  const metrics = await (await fetch(`${world.proxy.url}/metrics`)).text();
  expect(metrics).toContain('spendguard_proxy_decisions_total');
  expect(leaks(metrics)).toEqual([]);
  expect(world.logs.length).toBeGreaterThan(400);
  expect(leaks(world.logs.join('\n'))).toEqual([]);
  // The echoes really came back from the vendors: the proxy had something to redact.
  expect(world.stripe.ledger.requests.length + world.twilio.ledger.requests.length).toBeGreaterThan(100);
}, 60_000);
