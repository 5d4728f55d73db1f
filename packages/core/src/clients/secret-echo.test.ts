import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  createFakeResend,
  createFakeStripe,
  createFakeTwilio,
  type EchoEncoding,
  type FakeServer,
  type Faults,
  type StripeFault,
} from '@spendguard/testkit';
import { Resend } from 'resend';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ExecuteDecision } from '../decision.ts';
import { createGuard, type Guard } from '../guard.ts';
import type { PolicyDocument } from '../policy.ts';
import { REDACTED } from '../redactor.ts';
import { SqliteStore } from '../stores/sqlite-store.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { createGovernedFetch } from './governed-fetch.ts';
import { createGovernedStripe } from './governed-stripe.ts';
import { createGovernedTwilio } from './governed-twilio.ts';

// Each fake vendor echoes the credential it received, in each encoding, on each path (2xx, 4xx,
// 5xx, timeout); everything that comes out of spendguard is then searched for the secret.

// Secrets with characters that URL-encoding, base64 and JSON each write differently.
const STRIPE_SECRET = 'sk_live_echo/Stripe+Key="q"\\1';
const TWILIO_TOKEN = 'tw token/with+chars="x"\\2';
const RESEND_KEY = 're_echo/Resend+Key="z"\\3';
const ENV = {
  stripe: 'SPENDGUARD_TEST_ECHO_STRIPE',
  twilio: 'SPENDGUARD_TEST_ECHO_TWILIO',
  resend: 'SPENDGUARD_TEST_ECHO_RESEND',
};

const stripeFake = createFakeStripe({ secretKey: STRIPE_SECRET });
const twilioFake = createFakeTwilio({ authToken: TWILIO_TOKEN });
const resendFake = createFakeResend({ apiKey: RESEND_KEY });

const policies: PolicyDocument = {
  policies: {
    agent: {
      stripe: { allow: ['POST /v1/charges', 'POST /v1/customers'] },
      twilio: {
        allow: ['POST /2010-04-01/Accounts/*/Messages.json', 'GET /2010-04-01/Accounts/*/Messages/*'],
        prices: { '+1': 0.0079 },
      },
      resend: { allow: ['POST /emails'], prices: { email: 0.001 } },
      caps: { perKey: 100 },
    },
  },
  credentials: {
    stripe: { env: ENV.stripe },
    twilio: { env: ENV.twilio },
    resend: { env: ENV.resend },
  },
};

const LEASE_MS = 5000;
/** How long the client waits for an answer before giving up, on the timeout path. */
const CLIENT_TIMEOUT_MS = 300;
const realFetch = globalThis.fetch;
let servers: Record<'stripe' | 'twilio' | 'resend', FakeServer>;

let dir: string;
let file: string;
let clock: FakeClock;
let guard: Guard;
let token: string;
/** Every decision the guard gave, every value the SDKs returned and every error they threw. */
let decisions: ExecuteDecision<unknown>[];
let outputs: unknown[];

beforeAll(async () => {
  servers = {
    stripe: await stripeFake.listen(),
    twilio: await twilioFake.listen(),
    resend: await resendFake.listen(),
  };
  process.env[ENV.stripe] = STRIPE_SECRET;
  process.env[ENV.twilio] = TWILIO_TOKEN;
  process.env[ENV.resend] = RESEND_KEY;
});
afterAll(async () => {
  await Promise.all(Object.values(servers).map((server) => server.close()));
  for (const name of Object.values(ENV)) delete process.env[name];
});
beforeEach(async () => {
  for (const fake of [stripeFake, twilioFake, resendFake]) fake.reset();
  dir = mkdtempSync(join(tmpdir(), 'spendguard-echo-'));
  file = join(dir, 'state.db');
  clock = new FakeClock();
  guard = recording(
    createGuard({ policies, store: new SqliteStore({ file }), now: clock.now, leaseMs: LEASE_MS }),
  );
  token = (await guard.keys.issueRoot({ policy: 'agent' })).token;
  decisions = [];
  outputs = [];
});
afterEach(async () => {
  vi.unstubAllGlobals();
  await guard.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The guard, noting every decision it gives (the governed clients turn them into responses). */
function recording(target: Guard): Guard {
  return new Proxy(target, {
    get(guard, name) {
      if (name === 'execute') {
        return async (...args: Parameters<Guard['execute']>) => {
          const decision = await guard.execute(...args);
          decisions.push(decision);
          return decision;
        };
      }
      const value = Reflect.get(guard, name, guard);
      return typeof value === 'function' ? value.bind(guard) : value;
    },
  });
}

/** Runs a call through an SDK, keeping what it returned or threw. */
async function keep(call: () => Promise<unknown>): Promise<void> {
  try {
    outputs.push(await call());
  } catch (error) {
    outputs.push(error);
  }
}

/** The transport to the fake: the real fetch, or on the timeout path one that gives up. */
function transportFor(path: Path): typeof fetch {
  if (path !== 'timeout') return realFetch;
  return (input, init) => realFetch(input, { ...init, signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) });
}

type Path = '2xx' | '4xx' | '5xx' | 'timeout';

interface VendorCase {
  name: 'stripe' | 'twilio' | 'resend';
  secret: string;
  /** The users the secret travels with in a Basic-auth pair. */
  users: string[];
  faults: Faults<StripeFault>;
  /** The money-moving call, through the official SDK and a governed client. */
  call(transport: typeof fetch): Promise<void>;
  /** What a client does after a timeout to learn what happened. */
  afterTimeout(): Promise<void>;
}

const stripeCase: VendorCase = {
  name: 'stripe',
  secret: STRIPE_SECRET,
  users: [''],
  faults: stripeFake.faults,
  async call(transport) {
    const stripe = createGovernedStripe({
      guard,
      key: token,
      fetch: transport,
      config: { host: '127.0.0.1', port: servers.stripe.port, protocol: 'http', maxNetworkRetries: 0 },
    });
    await keep(() => stripe.charges.create({ amount: 2000, currency: 'usd', source: 'tok_visa' }));
  },
  // Stripe deduplicates on our key: once the lease ends the same charge is re-sent and replayed.
  async afterTimeout() {
    clock.advance(LEASE_MS + 1);
    await stripeCase.call(realFetch);
  },
};

const twilioCase: VendorCase = {
  name: 'twilio',
  secret: TWILIO_TOKEN,
  users: [twilioFake.accountSid],
  faults: twilioFake.faults,
  async call(transport) {
    const client = createGovernedTwilio({
      guard,
      key: token,
      accountSid: twilioFake.accountSid,
      upstream: servers.twilio.url,
      fetch: transport,
    });
    await keep(() => client.messages.create({ to: '+15551230001', from: '+15550000000', body: 'Your code' }));
  },
  // Twilio has no idempotency key: a retry is refused, and the message is read back instead.
  async afterTimeout() {
    clock.advance(LEASE_MS + 1);
    await twilioCase.call(realFetch);
    const sid = twilioFake.ledger.messages[0]?.sid ?? '';
    const client = createGovernedTwilio({
      guard,
      key: token,
      accountSid: twilioFake.accountSid,
      upstream: servers.twilio.url,
      fetch: realFetch,
    });
    await keep(() => client.messages(sid).fetch());
  },
};

const resendCase: VendorCase = {
  name: 'resend',
  secret: RESEND_KEY,
  users: [''],
  faults: resendFake.faults,
  async call(transport) {
    // resend-node calls the global fetch.
    vi.stubGlobal('fetch', createGovernedFetch({ guard, upstream: servers.resend.url, fetch: transport }));
    await keep(() =>
      new Resend(token).emails.send({
        from: 'shop@example.com',
        to: 'ada@example.com',
        subject: 'Receipt',
        text: 'Thanks!',
      }),
    );
  },
  async afterTimeout() {
    clock.advance(LEASE_MS + 1);
    await resendCase.call(realFetch);
  },
};

/** The secret in every encoding a vendor might echo it in, and each as JSON writes it (once, twice). */
function needles(vendor: Pick<VendorCase, 'secret' | 'users'>): string[] {
  const { secret, users } = vendor;
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const encoded = [
    secret,
    encodeURIComponent(secret),
    b64(secret),
    ...users.map((u) => b64(`${u}:${secret}`)),
  ];
  const json = (text: string) => JSON.stringify(text).slice(1, -1);
  return encoded.flatMap((text) => [text, json(text), json(json(text))]);
}

/** Everything spendguard let out: what the SDKs returned and threw, decisions, audit rows, the store's files. */
async function everythingOut(): Promise<{ text: string; files: Buffer }> {
  const shown = outputs.map((value) => {
    const extra =
      value instanceof Error
        ? [value.message, value.stack, inspect(value.cause, { depth: 10 }), safeJson(value)]
        : [safeJson(value)];
    return [inspect(value, { depth: 10, showHidden: true }), ...extra].join('\n');
  });
  const rows = await guard.audit.list();
  const text = [...shown, safeJson(decisions), inspect(decisions, { depth: 10 }), safeJson(rows)].join('\n');
  const files = Buffer.concat(
    [file, `${file}-wal`, `${file}-shm`].filter((f) => existsSync(f)).map((f) => readFileSync(f)),
  );
  return { text, files };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

async function expectNoSecret(vendor: Pick<VendorCase, 'secret' | 'users'>): Promise<void> {
  const { text, files } = await everythingOut();
  // The echo got through and was redacted: the test is not passing on an empty scan.
  expect(text.includes(REDACTED) || files.includes(REDACTED), 'nothing was redacted').toBe(true);
  for (const needle of needles(vendor)) {
    expect(text.includes(needle), `${needle} came out`).toBe(false);
    expect(files.includes(needle), `${needle} is in the store's files`).toBe(false);
  }
}

const PATHS: Path[] = ['2xx', '4xx', '5xx', 'timeout'];
const ENCODINGS: EchoEncoding[] = ['raw', 'url', 'base64', 'basic'];

describe.each([stripeCase, twilioCase, resendCase])('$name echoing its secret', (vendor) => {
  it.each(PATHS.flatMap((path) => ENCODINGS.map((encoding) => ({ path, encoding }))))(
    'on the $path path, $encoding: nothing that comes out carries it',
    async ({ path, encoding }) => {
      const { faults } = vendor;
      faults.inject({ kind: 'echo_credential', encoding }, { times: 2 });
      if (path === '4xx') faults.inject({ kind: 'rate_limit' });
      if (path === '5xx') faults.inject({ kind: 'fail_after_act' });
      if (path === 'timeout') faults.inject({ kind: 'timeout_after_act', ms: 60_000 });
      await vendor.call(transportFor(path));
      if (path === 'timeout') await vendor.afterTimeout();
      await expectNoSecret(vendor);
    },
  );

  it('a transport error that names the credential reaches the caller redacted', async () => {
    // Some HTTP clients put the request's headers into their errors.
    const leaky: typeof fetch = async (_input, init) => {
      const authorization = new Headers(init?.headers).get('authorization');
      throw new TypeError(`fetch failed (sent authorization: ${authorization})`, {
        cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', headers: { authorization } }),
      });
    };
    await vendor.call(leaky);
    await expectNoSecret(vendor);
  });
});

it('what the guard stores and replays for any vendor call is redacted', async () => {
  const echoing = async ({ credential }: { credential: string }) => ({
    raw: credential,
    url: encodeURIComponent(credential),
    basic: Buffer.from(`:${credential}`).toString('base64'),
    body: JSON.stringify({ message: `bad key ${credential}` }),
  });
  const request = { key: token, vendor: 'stripe', method: 'POST', path: '/v1/customers', params: {} };
  const first = await guard.execute(request, echoing);
  const again = await guard.execute(request, echoing);
  expect(first.decision).toBe('executed');
  expect(again.decision).toBe('replayed');
  outputs.push(first, again);
  await expectNoSecret(stripeCase);
});
