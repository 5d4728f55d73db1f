/**
 * The gateway started as a child process over stdio, as a `claude_desktop_config.json` entry
 * starts it, in front of the test Stripe MCP server (which sends no idempotency key). Each row
 * runs twice: a client straight to the Stripe MCP server (the key in its config) shows the
 * money going wrong; a client of the gateway (a vault key in its config) shows it going right.
 * The run cap and revocation rows are in gateway-http.test.ts (a session per run is cheaper there).
 */

import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import type { AuditRow } from '@spendguard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStripeFixtureHttp } from './fixtures/stripe-mcp-http.ts';
import { type Connected, STRIPE_SECRET, startWorld, textOf, type World } from './test-world.ts';
import { REFUSAL_META_KEY } from './tool-result.ts';

let world: World;
/** A client straight to the Stripe MCP server: no gateway. */
let direct: Connected;
/** A client of the gateway holding a vault key of the `refunds` policy. */
let gateway: Connected;
const CLIENT = 'claude-desktop-test';

beforeAll(async () => {
  world = await startWorld('stdio');
  const key = await world.issueKey('refunds');
  [direct, gateway] = await Promise.all([world.direct(), world.gateway(key.token, { name: CLIENT })]);
});
afterAll(() => world?.close());

const refund = (client: Connected, args: Record<string, unknown>, timeout = 15_000) =>
  client.client.callTool({ name: 'create_refund', arguments: args }, undefined, { timeout });

function refusalOf(result: unknown): { code: string } | undefined {
  return (result as { _meta?: Record<string, { code: string }> })._meta?.[REFUSAL_META_KEY];
}
const codeOf = (result: unknown) => refusalOf(result)?.code;

/** Waits (bounded) until the fake Stripe has made `count` refunds on a payment. */
async function refundsSettle(paymentIntent: string, count: number): Promise<void> {
  for (let i = 0; i < 100 && world.refundsOf(paymentIntent).length < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('F1/F5: the client retries a refund after its timeout (Stripe acted, the answer was late)', () => {
  const lateRefund = () =>
    world.fake.faults.inject(
      { kind: 'timeout_after_act', ms: 800 },
      { match: (r) => r.method === 'POST' && r.path === '/v1/refunds' },
    );

  it('without the gateway: the retry refunds again', async () => {
    const pi = await world.paymentIntent(3000);
    lateRefund();
    await expect(refund(direct, { payment_intent: pi, amount: 1000 }, 300)).rejects.toMatchObject({
      code: ErrorCode.RequestTimeout,
    });
    const retry = await refund(direct, { payment_intent: pi, amount: 1000 });
    expect(retry.isError).toBeFalsy();
    await refundsSettle(pi, 2);
    expect(world.refundsOf(pi)).toHaveLength(2);
  });

  it('with the gateway: the retry gets the first refund back; Stripe refunds once', async () => {
    const pi = await world.paymentIntent(3000);
    lateRefund();
    await expect(refund(gateway, { payment_intent: pi, amount: 1000 }, 300)).rejects.toMatchObject({
      code: ErrorCode.RequestTimeout,
    });
    const retry = await refund(gateway, { payment_intent: pi, amount: 1000 });
    expect(retry.isError).toBeFalsy();
    const refunds = world.refundsOf(pi);
    expect(refunds).toHaveLength(1);
    expect(JSON.parse(textOf(retry)).id).toBe(refunds[0]?.id);
    // As Stripe's own tools, the upstream sent no idempotency key: the gateway's checkpoint did it.
    const sent = world.fake.ledger.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds');
    expect(sent.every((r) => r.idempotencyKey === undefined)).toBe(true);
  });
});

describe('F2: one model turn emits the same refund twice, run at once', () => {
  it('without the gateway: two refunds', async () => {
    const pi = await world.paymentIntent(3000);
    await Promise.all([
      refund(direct, { payment_intent: pi, amount: 700 }),
      refund(direct, { payment_intent: pi, amount: 700 }),
    ]);
    expect(world.refundsOf(pi)).toHaveLength(2);
  });

  it('with the gateway: one refund, both calls get its result', async () => {
    const pi = await world.paymentIntent(3000);
    const [a, b] = await Promise.all([
      refund(gateway, { payment_intent: pi, amount: 700 }),
      refund(gateway, { payment_intent: pi, amount: 700 }),
    ]);
    expect(world.refundsOf(pi)).toHaveLength(1);
    expect(textOf(a)).toBe(textOf(b));
    expect(JSON.parse(textOf(a)).id).toBe(world.refundsOf(pi)[0]?.id);
  });
});

describe('F8: a legal tool with illegal arguments', () => {
  it('without the gateway: a refund over the $50 max goes through', async () => {
    const pi = await world.paymentIntent(10_000);
    const result = await refund(direct, { payment_intent: pi, amount: 9000 });
    expect(result.isError).toBeFalsy();
    expect(world.refundsOf(pi)).toHaveLength(1);
  });

  it('with the gateway: refused as a result the model reads, saying retrying will not help; Stripe never called', async () => {
    const pi = await world.paymentIntent(10_000);
    const before = world.fake.ledger.requests.length;
    const result = await refund(gateway, { payment_intent: pi, amount: 9000 });
    expect(result.isError).toBe(true);
    expect(refusalOf(result)?.code).toBe('param_not_allowed');
    expect(textOf(result)).toMatch(/amount 9000 is above the maximum 5000.*Retrying will not help/);
    expect(world.refundsOf(pi)).toHaveLength(0);
    // Not even priced by a read: the amount was given.
    expect(world.fake.ledger.requests.slice(before).filter((r) => r.path === '/v1/refunds')).toHaveLength(0);
  });

  it('without the gateway: a refund without amount refunds all $500 of a large payment', async () => {
    const pi = await world.paymentIntent(50_000);
    await refund(direct, { payment_intent: pi });
    expect(world.refundsOf(pi).map((r) => r.amount)).toEqual([50_000]);
  });

  it('with the gateway: the payment is read first, its $500 is over the max, and nothing is refunded', async () => {
    const pi = await world.paymentIntent(50_000);
    const result = await refund(gateway, { payment_intent: pi });
    expect(refusalOf(result)?.code).toBe('param_not_allowed');
    expect(textOf(result)).toContain('amount 50000 is above the maximum 5000');
    expect(world.refundsOf(pi)).toHaveLength(0);
    // Priced by reading the payment with the real key, as core's refund lookup does.
    expect(
      world.fake.ledger.requests.some((r) => r.method === 'GET' && r.path === `/v1/payment_intents/${pi}`),
    ).toBe(true);
  });
});

describe('priced by reading the object the call names, with the real key, before anything is sent', () => {
  it('finalize_invoice: the invoice says $9,000 is due, over the $50 run cap; it is not finalized', async () => {
    const invoice = world.fake.seedInvoice({ amount_due: 900_000, currency: 'usd', status: 'draft' });
    const result = await gateway.client.callTool({
      name: 'finalize_invoice',
      arguments: { invoice: invoice.id },
    });
    expect(refusalOf(result)?.code).toBe('cap_exceeded');
    const requests = world.fake.ledger.requests.filter((r) =>
      r.path.startsWith(`/v1/invoices/${invoice.id}`),
    );
    // Read with the real key (the fake Stripe answers 200 to no other), and nothing else sent.
    expect(requests.map((r) => [r.method, r.status])).toEqual([['GET', 200]]);
  });
});

describe('create_payment_link: priced by reading its price with the real key, × the quantity', () => {
  const links = () => world.fake.ledger.list('payment_link').length;
  const link = (client: Connected, price: string, quantity: number) =>
    client.client.callTool({ name: 'create_payment_link', arguments: { price, quantity } });

  it('without the gateway: a link for 3 × $40 is made, past what the run may take', async () => {
    const price = await world.price(4000);
    const before = links();
    const result = await link(direct, price, 3);
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toContain('"object":"payment_link"');
    expect(links()).toBe(before + 1);
  });

  it('with the gateway: 3 × $40 is over the $50 run cap and no link is made; 1 × $40 is made once', async () => {
    const price = await world.price(4000);
    const key = await world.issueKey('refunds');
    const session = await world.gateway(key.token);
    const before = links();
    expect(refusalOf(await link(session, price, 3))?.code).toBe('cap_exceeded');
    expect(links()).toBe(before);
    // The price was read first, with the real key (the fake Stripe answers 200 to no other).
    const reads = world.fake.ledger.requests.filter((r) => r.path === `/v1/prices/${price}`);
    expect(reads.map((r) => [r.method, r.status])).toEqual([['GET', 200]]);

    const made = await link(session, price, 1);
    expect(made.isError).toBeFalsy();
    expect(textOf(made)).toMatch(/"url":"https:\/\/buy\.stripe\.com\/test_/);
    // The same call again is answered from its checkpoint: still one link.
    expect(textOf(await link(session, price, 1))).toBe(textOf(made));
    expect(links()).toBe(before + 1);
    const rows = await world.guard.audit.list();
    const executed = rows.filter(
      (r) => r.operation === 'POST /v1/payment_links' && r.decision === 'executed',
    );
    expect(executed.map((r) => r.amount)).toEqual([40]);
    await session.close();
  });
});

describe('the upstream as a Streamable HTTP URL (--upstream-url), as mcp.stripe.com is reached', () => {
  it("sends it the policy's Stripe key as its Bearer token, and governs its tools the same way", async () => {
    const remote = await serveStripeFixtureHttp({ apiBase: world.stripe.url, secretKey: STRIPE_SECRET });
    try {
      const key = await world.issueKey('refunds');
      // `upstream: []` leaves nothing after --: the upstream is the URL alone.
      const session = await world.gateway(key.token, {
        args: ['--upstream-url', `${remote.url}/mcp`],
        upstream: [],
      });
      const pi = await world.paymentIntent(3000);
      const [a, b] = await Promise.all([
        refund(session, { payment_intent: pi, amount: 400 }),
        refund(session, { payment_intent: pi, amount: 400 }),
      ]);
      expect(textOf(a)).toBe(textOf(b));
      expect(world.refundsOf(pi)).toHaveLength(1);
      expect(codeOf(await refund(session, { payment_intent: pi, amount: 9000 }))).toBe('param_not_allowed');
      expect(remote.authorizations.length).toBeGreaterThan(0);
      expect(new Set(remote.authorizations)).toEqual(new Set([`Bearer ${STRIPE_SECRET}`]));
      await session.close();
    } finally {
      await remote.close();
    }
  });
});

describe("Stripe's generic stripe_api_write", () => {
  const write = (client: Connected, parameters: Record<string, unknown>) =>
    client.client.callTool({
      name: 'stripe_api_write',
      arguments: { stripe_api_operation_id: 'PostRefunds', parameters },
    });

  it('is governed by the same rule as create_refund: over the max, refused', async () => {
    const pi = await world.paymentIntent(10_000);
    const result = await write(gateway, { payment_intent: pi, amount: 9000 });
    expect(refusalOf(result)?.code).toBe('param_not_allowed');
    expect(world.refundsOf(pi)).toHaveLength(0);
  });

  it('shares one checkpoint with create_refund: the same refund by the other tool is not made again', async () => {
    const pi = await world.paymentIntent(3000);
    const first = await write(gateway, { payment_intent: pi, amount: 500 });
    expect(first.isError).toBeFalsy();
    const second = await refund(gateway, { payment_intent: pi, amount: 500 });
    expect(textOf(second)).toBe(textOf(first));
    expect(world.refundsOf(pi)).toHaveLength(1);
  });
});

describe('a tool no map knows, which moves money (refund_all_payments)', () => {
  it('without the gateway: listed, and it refunds everything', async () => {
    const pis = [await world.paymentIntent(1000), await world.paymentIntent(1000)];
    expect((await direct.client.listTools()).tools.map((t) => t.name)).toContain('refund_all_payments');
    await direct.client.callTool({ name: 'refund_all_payments', arguments: { payment_intents: pis } });
    expect(pis.map((pi) => world.refundsOf(pi).length)).toEqual([1, 1]);
  });

  it('with the gateway: hidden from tools/list and refused on tools/call', async () => {
    const pis = [await world.paymentIntent(1000)];
    const names = (await gateway.client.listTools()).tools.map((t) => t.name);
    expect(names).not.toContain('refund_all_payments');
    expect(names).toEqual(
      expect.arrayContaining(['create_refund', 'stripe_api_write', 'search_documentation']),
    );
    const result = await gateway.client.callTool({
      name: 'refund_all_payments',
      arguments: { payment_intents: pis },
    });
    expect(refusalOf(result)?.code).toBe('operation_not_allowed');
    expect(world.refundsOf(pis[0] as string)).toHaveLength(0);
  });

  it('lets a free documentation tool through every time', async () => {
    const ask = () =>
      gateway.client.callTool({ name: 'search_documentation', arguments: { question: 'refunds' } });
    const [a, b] = [await ask(), await ask()];
    expect(textOf(a)).toContain('Stripe docs about refunds');
    expect(b.isError).toBeFalsy();
  });
});

describe('audit rows', () => {
  it('carry the MCP session id, the client name and the request id', async () => {
    const pi = await world.paymentIntent(3000);
    await refund(gateway, { payment_intent: pi, amount: 300 });
    const rows: AuditRow[] = await world.guard.audit.list();
    const vendorRow = rows.findLast((r) => r.vendor === 'stripe' && r.decision === 'executed') as AuditRow;
    const toolRow = rows.findLast((r) => r.vendor === 'tool' && r.decision === 'executed') as AuditRow;
    expect(vendorRow.agentId).toBe(CLIENT);
    expect(vendorRow.traceId).toMatch(/^stdio-[0-9a-f-]{36}$/);
    expect(vendorRow.runId).toBe(`mcp-${vendorRow.traceId}`);
    expect(vendorRow.toolCallId).toMatch(/^\d+$/);
    expect(vendorRow.amount).toBe(3);
    expect(toolRow).toMatchObject({
      agentId: CLIENT,
      runId: vendorRow.runId,
      toolCallId: vendorRow.toolCallId,
    });
    expect((await world.guard.audit.verify()).ok).toBe(true);
  });
});
