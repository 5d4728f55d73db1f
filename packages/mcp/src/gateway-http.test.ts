/**
 * The gateway started as a child process serving Streamable HTTP on 127.0.0.1 (`--http 0`), with
 * the SDK's own Streamable HTTP client. Each client holds a vault key as its Bearer token; each
 * session is its own run, with its own run key and upstream. Rows shown without the gateway use a
 * client straight to the test Stripe MCP server over stdio.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connected, type HttpGateway, startWorld, textOf, type World } from './test-world.ts';
import { REFUSAL_META_KEY } from './tool-result.ts';

let world: World;
let http: HttpGateway;
let direct: Connected;

beforeAll(async () => {
  world = await startWorld('http');
  [http, direct] = await Promise.all([world.httpGateway(), world.direct()]);
});
afterAll(async () => {
  try {
    // It stops cleanly on SIGTERM: sessions, upstream children and the store closed.
    expect(await http?.stop()).toBe(0);
  } finally {
    await world?.close();
  }
});

const refund = (client: Connected, args: Record<string, unknown>) =>
  client.client.callTool({ name: 'create_refund', arguments: args });
const codeOf = (result: unknown) =>
  (result as { _meta?: Record<string, { code: string }> })._meta?.[REFUSAL_META_KEY]?.code;
const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

describe('who may talk to it', () => {
  const post = (headers: Record<string, string>, body: unknown = initialize) =>
    fetch(http.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: JSON.stringify(body),
    });

  it('refuses a request without a vault key, with a vendor key instead, and with an unknown vault key', async () => {
    const none = await post({});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect((await post({ authorization: 'Bearer sk_test_not_a_vault_key' })).status).toBe(401);
    const unknown = await post({ authorization: `Bearer sk_sg_${'0'.repeat(64)}` });
    expect(unknown.status).toBe(401);
    expect(await unknown.text()).toContain('not known');
  });

  it('answers loopback origins only, and binds a session to the key that opened it', async () => {
    const key = await world.issueKey('read-only');
    const other = await world.issueKey('read-only');
    expect((await post({ authorization: `Bearer ${key.token}`, origin: 'http://evil.example' })).status).toBe(
      403,
    );
    const session = await world.httpClient(http.url, key.token);
    expect(session.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const hijack = await post(
      {
        authorization: `Bearer ${other.token}`,
        'mcp-session-id': session.sessionId as string,
        'mcp-protocol-version': '2025-06-18',
      },
      { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} },
    );
    expect(hijack.status).toBe(403);
    await session.close();
  });

  it('shows a read-only key only what it may do, and refuses the rest', async () => {
    const key = await world.issueKey('read-only');
    const session = await world.httpClient(http.url, key.token);
    const names = (await session.client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(['search_documentation', 'stripe_api_read']);
    const pi = await world.paymentIntent(1000);
    const refused = await refund(session, { payment_intent: pi, amount: 100 });
    expect(codeOf(refused)).toBe('operation_not_allowed');
    const read = await session.client.callTool({
      name: 'stripe_api_read',
      arguments: { stripe_api_operation_id: 'GetPaymentIntentsIntent', parameters: { intent: pi } },
    });
    expect(JSON.parse(textOf(read)).id).toBe(pi);
    await session.close();
  });
});

describe('F2 over Streamable HTTP: the same refund twice at once', () => {
  it('with the gateway: one refund; the audit rows carry this session id', async () => {
    const key = await world.issueKey('refunds');
    const session = await world.httpClient(http.url, key.token, { name: 'cursor-test' });
    const pi = await world.paymentIntent(3000);
    const [a, b] = await Promise.all([
      refund(session, { payment_intent: pi, amount: 900 }),
      refund(session, { payment_intent: pi, amount: 900 }),
    ]);
    expect(textOf(a)).toBe(textOf(b));
    expect(world.refundsOf(pi)).toHaveLength(1);
    const row = (await world.guard.audit.list({ rootKeyId: key.id })).find(
      (r) => r.vendor === 'stripe' && r.decision === 'executed',
    );
    expect(row).toMatchObject({
      traceId: session.sessionId,
      agentId: 'cursor-test',
      runId: `mcp-${session.sessionId}`,
    });
    await session.close();
  });
});

describe('approval through elicitation over Streamable HTTP', () => {
  it('asks the user in this session; on accept the $150 refund runs once', async () => {
    const key = await world.issueKey('approvals');
    const forms: string[] = [];
    const session = await world.httpClient(http.url, key.token, {
      name: 'cursor-test',
      elicit: async (request) => {
        forms.push(String(request.params.message));
        return { action: 'accept', content: { approve: true } };
      },
    });
    const pi = await world.paymentIntent(30_000);
    const result = await refund(session, { payment_intent: pi, amount: 15_000 });
    expect(result.isError).toBeFalsy();
    expect(forms).toHaveLength(1);
    expect(forms[0]).toContain('approve a Stripe refund of $150.00');
    expect(world.refundsOf(pi).map((r) => r.amount)).toEqual([15_000]);
    await session.close();
  });
});

describe('F7: a loop of legal refunds runs into the run cap ($50 per run)', () => {
  it('without the gateway: all five $20 refunds go through', async () => {
    const pis = await Promise.all(Array.from({ length: 5 }, () => world.paymentIntent(2000)));
    for (const pi of pis) await refund(direct, { payment_intent: pi, amount: 2000 });
    expect(pis.map((pi) => world.refundsOf(pi).length)).toEqual([1, 1, 1, 1, 1]);
  });

  it('with the gateway: two go through, the third is refused at the cap, exact to the cent', async () => {
    const key = await world.issueKey('refunds');
    const session = await world.httpClient(http.url, key.token);
    const pis = await Promise.all(Array.from({ length: 5 }, () => world.paymentIntent(2000)));
    const codes: string[] = [];
    for (const pi of pis)
      codes.push(codeOf(await refund(session, { payment_intent: pi, amount: 2000 })) ?? 'refunded');
    expect(codes).toEqual(['refunded', 'refunded', 'cap_exceeded', 'cap_exceeded', 'cap_exceeded']);
    expect(pis.map((pi) => world.refundsOf(pi).length)).toEqual([1, 1, 0, 0, 0]);
    const rows = await world.guard.audit.list({ rootKeyId: key.id });
    const runKeyId = rows.find((r) => r.decision === 'executed' && r.vendor === 'stripe')?.keyId as string;
    expect((await world.guard.spend(runKeyId)).lifetimeUsd).toBe(40);
    // A new session is a new run: the run cap starts again, the calls already made are not made again.
    const next = await world.httpClient(http.url, key.token);
    expect(codeOf(await refund(next, { payment_intent: pis[2], amount: 2000 }))).toBeUndefined();
    expect(world.refundsOf(pis[2] as string)).toHaveLength(1);
    await Promise.all([session.close(), next.close()]);
  });
});

describe('revocation mid-session (the off-switch)', () => {
  it('without the gateway: there is no key of the agent to revoke; refunds go on', async () => {
    const pi = await world.paymentIntent(3000);
    await refund(direct, { payment_intent: pi, amount: 100 });
    // Stopping it means rotating the Stripe key for every agent that holds it.
    await refund(direct, { payment_intent: pi, amount: 200 });
    expect(world.refundsOf(pi)).toHaveLength(2);
  });

  it('with the gateway: once the vault key is revoked, every call is refused at once and no tool is listed', async () => {
    const key = await world.issueKey('refunds');
    const session = await world.httpClient(http.url, key.token);
    const pi = await world.paymentIntent(3000);
    expect((await refund(session, { payment_intent: pi, amount: 100 })).isError).toBeFalsy();
    expect(await world.guard.keys.revoke(key.id)).toBe(true);
    const refused = await refund(session, { payment_intent: pi, amount: 200 });
    expect(refused.isError).toBe(true);
    expect(codeOf(refused)).toBe('key_revoked');
    expect(textOf(refused)).toContain('Retrying will not help');
    const rowsBefore = (await world.guard.audit.list({ rootKeyId: key.id })).length;
    const next = await session.client.callTool({ name: 'create_customer', arguments: { name: 'Ada' } });
    expect(codeOf(next)).toBe('key_revoked');
    // At once: nothing reached the guard (no new audit row) nor Stripe.
    expect((await world.guard.audit.list({ rootKeyId: key.id })).length).toBe(rowsBefore);
    expect((await session.client.listTools()).tools).toEqual([]);
    expect(world.refundsOf(pi)).toHaveLength(1);
    expect(world.fake.ledger.list('customer').some((c) => c.name === 'Ada')).toBe(false);
    await session.close();
  });
});
