/**
 * `createMcpGateway` as a program uses it: a guard made here, the downstream client connected in
 * memory, and the upstream reached over Streamable HTTP on loopback (as mcp.stripe.com is), its
 * key sent as a Bearer token read from a reference — never handed to the client.
 */

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createGuard, type Guard, MemoryStore, type PolicyDocument } from '@spendguard/core';
import { createFakeStripe, type FakeServer } from '@spendguard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedStripeFixture, serveStripeFixtureHttp } from './fixtures/stripe-mcp-http.ts';
import { createMcpGateway, type McpGateway } from './gateway.ts';
import { MCP_PROFILES } from './mcp-stripe-profile.ts';
import { textOf } from './test-world.ts';
import { REFUSAL_META_KEY } from './tool-result.ts';

const SECRET = 'sk_test_mcp_program_secret_0123456789';
const SECRET_ENV = 'SPENDGUARD_MCP_PROGRAM_TEST_KEY';
const POLICIES: PolicyDocument = {
  policies: {
    billing: {
      stripe: { allow: [{ 'POST /v1/refunds': { amount: { max: 5000 } } }, 'POST /v1/invoices/*/finalize'] },
      caps: { perCall: 100 },
    },
  },
  credentials: { stripe: { env: SECRET_ENV } },
};

const fake = createFakeStripe({ secretKey: SECRET });
let stripe: FakeServer;
let upstream: ServedStripeFixture;
let guard: Guard;
let token: string;
const gateways: McpGateway[] = [];

beforeAll(async () => {
  process.env[SECRET_ENV] = SECRET;
  stripe = await fake.listen();
  upstream = await serveStripeFixtureHttp({ apiBase: stripe.url, secretKey: SECRET });
  guard = createGuard({ policies: POLICIES, store: new MemoryStore(), profiles: MCP_PROFILES });
  token = (await guard.keys.issueRoot({ policy: 'billing' })).token;
});
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await guard?.close();
  await upstream?.close();
  await stripe?.close();
  delete process.env[SECRET_ENV];
});

async function connect(url: string, options: { upstreamTimeoutMs?: number } = {}): Promise<Client> {
  const gateway = createMcpGateway({
    guard,
    upstream: { url, credential: { env: SECRET_ENV } },
    lookupOrigins: { stripe: stripe.url },
    connectTimeoutMs: 5_000,
    ...options,
  });
  gateways.push(gateway);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await gateway.connect(serverSide, { key: token });
  const client = new Client({ name: 'program-test', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

async function paymentIntent(amount: number): Promise<string> {
  const response = await fetch(`${stripe.url}/v1/payment_intents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET}` },
    body: new URLSearchParams({
      amount: String(amount),
      currency: 'usd',
      confirm: 'true',
      payment_method: 'pm_card_visa',
    }),
  });
  return ((await response.json()) as { id: string }).id;
}

describe('an upstream over Streamable HTTP', () => {
  it('gets the real key as its Bearer token from the reference, and governs its tools the same way', async () => {
    const client = await connect(`${upstream.url}/mcp`);
    const pi = await paymentIntent(3000);
    const call = () =>
      client.callTool({ name: 'create_refund', arguments: { payment_intent: pi, amount: 800 } });
    const [a, b] = await Promise.all([call(), call()]);
    expect(textOf(a)).toBe(textOf(b));
    expect(fake.ledger.list('refund').filter((r) => r.payment_intent === pi)).toHaveLength(1);
    expect(upstream.authorizations.length).toBeGreaterThan(0);
    expect(new Set(upstream.authorizations)).toEqual(new Set([`Bearer ${SECRET}`]));
  });

  it('prices finalizing an invoice by reading it first: a $9,000 invoice is over the $100 per-call cap', async () => {
    const client = await connect(`${upstream.url}/mcp`);
    const invoice = fake.seedInvoice({ amount_due: 900_000, currency: 'usd', status: 'draft' });
    const result = await client.callTool({ name: 'finalize_invoice', arguments: { invoice: invoice.id } });
    expect(result.isError).toBe(true);
    expect((result._meta as Record<string, { code: string }>)[REFUSAL_META_KEY]?.code).toBe('cap_exceeded');
    const requests = fake.ledger.requests.filter((r) => r.path.startsWith(`/v1/invoices/${invoice.id}`));
    expect(requests.map((r) => r.method)).toEqual(['GET']);
  });

  it('refuses a call readably when the upstream cannot be reached; nothing moves', async () => {
    const client = await connect('http://127.0.0.1:9/mcp');
    const pi = await paymentIntent(3000);
    const result = await client.callTool({
      name: 'create_refund',
      arguments: { payment_intent: pi, amount: 100 },
    });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/upstream MCP server could not be started or initialized/);
    expect(textOf(result)).not.toContain(SECRET);
    expect(fake.ledger.list('refund').filter((r) => r.payment_intent === pi)).toHaveLength(0);
    // Surely not sent: a retry once the upstream is back is not blocked as an unknown outcome.
    expect(await guard.pending()).toEqual([]);
  });

  it('leaves a call the upstream did not answer in time unknown, and never sends it again', async () => {
    const client = await connect(`${upstream.url}/mcp`, { upstreamTimeoutMs: 300 });
    const pi = await paymentIntent(3000);
    // Stripe acts after 800 ms; the gateway stops waiting for the upstream after 300 ms.
    fake.faults.inject(
      { kind: 'latency', ms: 800 },
      { match: (r) => r.method === 'POST' && r.path === '/v1/refunds' },
    );
    const call = () =>
      client.callTool({ name: 'create_refund', arguments: { payment_intent: pi, amount: 600 } });
    const first = await call();
    const codeOf = (r: typeof first) => (r._meta as Record<string, { code: string }>)[REFUSAL_META_KEY]?.code;
    expect(codeOf(first)).toBe('outcome_unknown');
    expect(textOf(first)).toContain('It may have gone through');
    // The retry is refused, not re-sent: the MCP tool has no idempotency key to make a re-send safe.
    expect(codeOf(await call())).toBe('outcome_unknown');
    const refunds = () => fake.ledger.list('refund').filter((r) => r.payment_intent === pi);
    for (let i = 0; i < 100 && refunds().length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(refunds()).toHaveLength(1);
    expect(codeOf(await call())).toBe('outcome_unknown');
    expect(refunds()).toHaveLength(1);
    // Left for a person to reconcile, its $6 still reserved.
    const pending = await guard.pending();
    expect(pending.some((p) => p.outcomeUnknown && p.operation === 'POST /v1/refunds')).toBe(true);
  });

  it("does not re-send an unknown outcome even under a guard whose Stripe profile would (core's default)", async () => {
    // Core's own Stripe profile sends an idempotency key, so after the lease it re-sends an unknown
    // call under the same key; an MCP tool cannot carry that key, so the gateway refuses to.
    const defaults = createGuard({ policies: POLICIES, store: new MemoryStore(), leaseMs: 100 });
    const key = (await defaults.keys.issueRoot({ policy: 'billing' })).token;
    const gateway = createMcpGateway({
      guard: defaults,
      upstream: { url: `${upstream.url}/mcp`, credential: { env: SECRET_ENV } },
      lookupOrigins: { stripe: stripe.url },
      upstreamTimeoutMs: 300,
    });
    gateways.push(gateway);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await gateway.connect(serverSide, { key });
    const client = new Client({ name: 'program-test', version: '1.0.0' });
    await client.connect(clientSide);
    const pi = await paymentIntent(3000);
    fake.faults.inject(
      { kind: 'latency', ms: 600 },
      { match: (r) => r.method === 'POST' && r.path === '/v1/refunds' },
    );
    const call = () =>
      client.callTool({ name: 'create_refund', arguments: { payment_intent: pi, amount: 700 } });
    expect(textOf(await call())).toContain('outcome_unknown');
    const refunds = () => fake.ledger.list('refund').filter((r) => r.payment_intent === pi);
    for (let i = 0; i < 100 && refunds().length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 150)); // the lease is over: core would re-send
    const retry = await call();
    expect(textOf(retry)).toContain('not sent again');
    expect(refunds()).toHaveLength(1);
    await defaults.close();
  });
});
