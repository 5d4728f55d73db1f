/**
 * The world the proxy's tests run in (not exported from the package): the fake Stripe, Twilio
 * and Resend on loopback, a guard whose credentials are the fakes' secrets, a root key for the
 * billing agent, and the proxy served in front of them.
 */
import { createGuard, type Guard, MemoryStore, type PolicyDocument, type Store } from '@spendguard/core';
import { FakeClock } from '@spendguard/core/testing';
import {
  createFakeResend,
  createFakeStripe,
  createFakeTwilio,
  type FakeResend,
  type FakeServer,
  type FakeStripe,
  type FakeTwilio,
} from '@spendguard/testkit';
import type { ProxyOptions } from './options.ts';
import { type ServedProxy, serveProxy } from './serve-proxy.ts';

/** The real vendor secrets: only the guard holds them. */
export const SECRETS = {
  stripe: 'sk_test_proxy_REAL_stripe_secret_0123456789',
  twilio: 'proxy_REAL_twilio_auth_token_0123456789',
  resend: 're_proxy_REAL_resend_key_0123456789',
} as const;

const ENV = {
  stripe: 'SPENDGUARD_PROXY_TEST_STRIPE',
  twilio: 'SPENDGUARD_PROXY_TEST_TWILIO',
  resend: 'SPENDGUARD_PROXY_TEST_RESEND',
} as const;

/** The billing agent's policy: charges up to $50, SMS to +1 and +44 only, $100 per run. */
export const POLICIES: PolicyDocument = {
  policies: {
    'billing-agent': {
      stripe: {
        allow: [
          { 'POST /v1/charges': { amount: { max: 5000 }, currency: { in: ['usd'] } } },
          { 'POST /v1/refunds': { amount: { max: 2000 } } },
          'POST /v1/customers',
          'GET /v1/charges/*',
        ],
      },
      twilio: {
        allow: [{ 'POST /2010-04-01/Accounts/*/Messages.json': { To: { prefix: ['+1', '+44'] } } }],
        prices: { '+1': 0.0079, '+44': 0.0463 },
      },
      resend: { allow: ['POST /emails'], prices: { email: 0.001 } },
      caps: { perCall: 50, perRun: 100, perDay: 1000 },
    },
  },
  credentials: {
    stripe: { env: ENV.stripe },
    twilio: { env: ENV.twilio },
    resend: { env: ENV.resend },
  },
};

export interface World {
  stripe: FakeStripe;
  twilio: FakeTwilio;
  resend: FakeResend;
  guard: Guard;
  clock: FakeClock;
  /** The billing agent's root key token. */
  rootToken: string;
  rootId: string;
  proxy: ServedProxy;
  /** Every line the proxy logged. */
  logs: string[];
  /** Each vendor's fake origin, as `upstreams`. */
  upstreams: Record<'stripe' | 'twilio' | 'resend', string>;
  close(): Promise<void>;
}

export interface WorldOptions {
  store?: Store;
  /** How long a call owns its checkpoint; tests of unknown outcomes move the clock past it. */
  leaseMs?: number;
  proxy?: Partial<ProxyOptions>;
}

export async function startWorld(options: WorldOptions = {}): Promise<World> {
  for (const vendor of ['stripe', 'twilio', 'resend'] as const) process.env[ENV[vendor]] = SECRETS[vendor];
  const stripe = createFakeStripe({ secretKey: SECRETS.stripe });
  const twilio = createFakeTwilio({ authToken: SECRETS.twilio });
  const resend = createFakeResend({ apiKey: SECRETS.resend });
  const servers: FakeServer[] = await Promise.all([stripe.listen(), twilio.listen(), resend.listen()]);
  const [stripeServer, twilioServer, resendServer] = servers as [FakeServer, FakeServer, FakeServer];
  const clock = new FakeClock(Date.now());
  const guard = createGuard({
    policies: POLICIES,
    store: options.store ?? new MemoryStore(),
    now: clock.now,
    leaseMs: options.leaseMs ?? 60_000,
  });
  const root = await guard.keys.issueRoot({ policy: 'billing-agent', name: 'billing-agent' });
  const upstreams = { stripe: stripeServer.url, twilio: twilioServer.url, resend: resendServer.url };
  const logs: string[] = [];
  const proxy = await serveProxy({
    guard,
    upstreams,
    logger: (line) => logs.push(line),
    ...options.proxy,
  });
  return {
    stripe,
    twilio,
    resend,
    guard,
    clock,
    rootToken: root.token,
    rootId: root.id,
    proxy,
    logs,
    upstreams,
    async close() {
      await proxy.close();
      await Promise.all(servers.map((s) => s.close()));
      await guard.close();
    },
  };
}
