/**
 * No vendor secret and no vault token in anything the gateway shows: tool results (text and
 * `_meta`), refusals, its log lines and the upstream's stderr it passes on, and audit rows. The
 * fake Stripe echoes the key it received (raw, URL-encoded, base64, as a Basic pair) in its
 * answers, successful and failed; the test Stripe MCP server prints its key on stderr; the model
 * pastes secrets into arguments.
 */
import type { EchoEncoding } from '@spendguard/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connected, STRIPE_SECRET, startWorld, textOf, type World } from './test-world.ts';
import { REFUSAL_META_KEY } from './tool-result.ts';

let world: World;
let gateway: Connected;
let direct: Connected;
let rootToken: string;

beforeAll(async () => {
  world = await startWorld('secrets');
  rootToken = (await world.issueKey('refunds')).token;
  [gateway, direct] = await Promise.all([
    world.gateway(rootToken, { fixtureArgs: ['--stderr-secret'] }),
    world.direct(),
  ]);
});
afterAll(() => world?.close());

/** Every text form a secret could leak in: raw, URL- and form-encoded, base64(url) at any offset. */
function formsOf(secret: string): string[] {
  const forms = [secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)];
  for (const offset of [0, 1, 2]) {
    const middle = Buffer.from(`${'x'.repeat(offset)}${secret}x`)
      .toString('base64')
      .slice(4, -4);
    forms.push(middle, middle.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return forms;
}

/** Which secrets' forms occur in a text (none, we expect), and any vault token at all. */
function leaks(text: string): string[] {
  const found: string[] = [];
  const secrets: Record<string, string> = { stripe: STRIPE_SECRET, vault: rootToken };
  for (const [name, secret] of Object.entries(secrets)) {
    if (formsOf(secret).some((form) => text.includes(form))) found.push(name);
  }
  if (text.includes('sk_sg_')) found.push('a vault token');
  return found;
}

/** Everything the gateway has shown so far: audit rows and its stderr (log lines, the upstream's stderr). */
async function shownSoFar(): Promise<string> {
  return `${JSON.stringify(await world.guard.audit.list())}\n${gateway.stderr()}`;
}

const refund = (client: Connected, args: Record<string, unknown>) =>
  client.client.callTool({ name: 'create_refund', arguments: args });

describe('the vendor echoes the key it received', () => {
  it.each(['raw', 'url', 'base64', 'basic'] satisfies EchoEncoding[])(
    'without the gateway the %s echo reaches the model; with it, no form of it does',
    async (encoding) => {
      const pi = await world.paymentIntent(5000);
      world.fake.faults.inject({ kind: 'echo_credential', encoding }, { match: (r) => r.method === 'POST' });
      const leaked = await refund(direct, { payment_intent: pi, amount: 100 });
      expect(JSON.stringify(leaked)).toContain('credential_echo');
      if (encoding === 'raw') expect(leaks(JSON.stringify(leaked))).toContain('stripe');
      world.fake.faults.inject({ kind: 'echo_credential', encoding }, { match: (r) => r.method === 'POST' });
      const result = await refund(gateway, { payment_intent: pi, amount: 200 });
      expect(result.isError).toBeFalsy();
      expect(JSON.stringify(result)).toContain('credential_echo');
      expect(leaks(JSON.stringify(result))).toEqual([]);
    },
  );

  it("keeps it out of a failed call's answer, which the model reads as the vendor's own error", async () => {
    const pi = await world.paymentIntent(1000);
    world.fake.faults.inject(
      { kind: 'echo_credential', encoding: 'raw' },
      { match: (r) => r.method === 'POST' },
    );
    // More than is left to refund: Stripe refuses it (400), with the echo in its message.
    const result = await refund(gateway, { payment_intent: pi, amount: 2000 });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('Stripe error (HTTP 400)');
    expect(leaks(JSON.stringify(result))).toEqual([]);
  });
});

describe('secrets in arguments', () => {
  it('refuses a vault key in the arguments before anything reaches Stripe', async () => {
    const pi = await world.paymentIntent(1000);
    const before = world.fake.ledger.requests.length;
    const result = await refund(gateway, { payment_intent: pi, amount: 100, metadata: { note: rootToken } });
    expect(result.isError).toBe(true);
    expect((result._meta as Record<string, { code: string }>)[REFUSAL_META_KEY]?.code).toBe(
      'request_invalid',
    );
    expect(textOf(result)).toContain('never sent on to a vendor');
    expect(leaks(JSON.stringify(result))).toEqual([]);
    expect(JSON.stringify(world.fake.ledger.requests.slice(before))).not.toContain('sk_sg_');
  });

  it('shows no form of a secret the model pasted anywhere in a call, whatever comes back', async () => {
    const secretArb = fc.constantFrom('stripe', 'vault');
    const encodingArb = fc.constantFrom('raw', 'url', 'base64');
    const placeArb = fc.constantFrom('metadata', 'reason', 'payment_intent');
    const pi = await world.paymentIntent(100_000);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(secretArb, encodingArb, placeArb, async (which, encoding, place) => {
        const secret = which === 'stripe' ? STRIPE_SECRET : rootToken;
        const written =
          encoding === 'raw'
            ? secret
            : encoding === 'url'
              ? encodeURIComponent(secret)
              : Buffer.from(secret).toString('base64');
        n += 1;
        const args: Record<string, unknown> = { payment_intent: pi, amount: 100 + n };
        if (place === 'metadata') args.metadata = { note: written };
        else if (place === 'reason') args.reason = written;
        else args.payment_intent = written;
        const result = await refund(gateway, args);
        expect(leaks(JSON.stringify(result))).toEqual([]);
      }),
      { numRuns: 12 },
    );
    expect(leaks(await shownSoFar())).toEqual([]);
  });
});

describe('what the gateway writes down', () => {
  it("passes on the upstream's stderr with its key redacted, and logs no secret", async () => {
    const stderr = gateway.stderr();
    expect(stderr).toContain('starting with key [redacted]');
    expect(stderr).toContain('"tool":"create_refund"');
    expect(leaks(stderr)).toEqual([]);
  });

  it('keeps every secret out of the audit rows', async () => {
    const rows = await world.guard.audit.list();
    expect(rows.length).toBeGreaterThan(5);
    expect(leaks(JSON.stringify(rows))).toEqual([]);
  });
});
