/**
 * Another vendor's MCP server, which no built-in map knows, governed through a tool map: the
 * gateway started as a child process over stdio (`--builtin none --tools tools.json -- node
 * shop-mcp-server.ts`), the SDK's own Client in front. The map names each tool's operation, renames
 * its arguments to the API params the policy's rules check, prices it from its arguments or marks
 * it free; what it leaves out is hidden and refused. Rows shown without the gateway use a client
 * straight to the shop's server.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connected, startWorld, textOf, type World } from './test-world.ts';
import type { ToolMapDocument } from './tool-map.ts';
import { REFUSAL_META_KEY } from './tool-result.ts';

const SHOP = fileURLToPath(new URL('./fixtures/shop-mcp-server.ts', import.meta.url));
const TOOL_MAP: ToolMapDocument = {
  tools: {
    lookup_order: 'free',
    refund_order: {
      operation: 'stripe:POST /v1/refunds',
      params: { payment_intent: 'order.payment', amount: 'cents' },
      cost: { amountArg: 'cents', currency: 'usd' },
    },
    send_gift_card: {
      operation: 'giftco:POST /gift_cards/{order}',
      cost: { amountArg: 'dollars', currency: 'usd', unit: 'major' },
    },
  },
};

let world: World;
let direct: Connected;
/** Starts a gateway session (one run) for the shop's server, holding a vault key of the `shop` policy. */
let shopGateway: () => Promise<Connected>;

beforeAll(async () => {
  world = await startWorld('tool-map');
  const tools = join(world.dir, 'tools.json');
  writeFileSync(tools, JSON.stringify(TOOL_MAP));
  const upstream = [process.execPath, SHOP, '--api-base', world.stripe.url];
  const key = await world.issueKey('shop');
  shopGateway = () =>
    world.gateway(key.token, { args: ['--builtin', 'none', '--tools', tools], upstream, name: 'shop-agent' });
  direct = await world.direct({ upstream });
});
afterAll(() => world?.close());

const call = (client: Connected, name: string, args: Record<string, unknown>) =>
  client.client.callTool({ name, arguments: args }, undefined, { timeout: 15_000 });
const codeOf = (result: unknown) =>
  (result as { _meta?: Record<string, { code: string }> })._meta?.[REFUSAL_META_KEY]?.code;
const refundOrder = (client: Connected, payment: string, cents: number) =>
  call(client, 'refund_order', { order: { id: `ord_${payment}`, payment }, cents });

describe('what the tool map lets the client see', () => {
  it('without the gateway: every tool of the server, close_all_orders too', async () => {
    const names = (await direct.client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(['close_all_orders', 'lookup_order', 'refund_order', 'send_gift_card']);
  });

  it('with the gateway: the mapped tools the policy allows; a tool the map leaves out is hidden and refused', async () => {
    const session = await shopGateway();
    const names = (await session.client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(['lookup_order', 'refund_order', 'send_gift_card']);
    const refused = await call(session, 'close_all_orders', {});
    expect(refused.isError).toBe(true);
    expect(codeOf(refused)).toBe('operation_not_allowed');
    expect(textOf(refused)).not.toContain('closed every order');
    await session.close();
  });
});

describe("argument rules: the policy's POST /v1/refunds max checks the tool's own cents argument", () => {
  it('without the gateway: a $30 refund_order goes through', async () => {
    const pi = await world.paymentIntent(5000);
    expect((await refundOrder(direct, pi, 3000)).isError).toBeFalsy();
    expect(world.refundsOf(pi)).toHaveLength(1);
  });

  it('with the gateway: refused over the $20 max; within it, twice at once is one refund', async () => {
    const session = await shopGateway();
    const pi = await world.paymentIntent(5000);
    const over = await refundOrder(session, pi, 3000);
    expect(codeOf(over)).toBe('param_not_allowed');
    expect(textOf(over)).toContain('amount 3000 is above the maximum 2000');
    expect(world.refundsOf(pi)).toHaveLength(0);
    const [a, b] = await Promise.all([refundOrder(session, pi, 1500), refundOrder(session, pi, 1500)]);
    expect(textOf(a)).toBe(textOf(b));
    expect(world.refundsOf(pi).map((r) => r.amount)).toEqual([1500]);
    // The shop's server sent no idempotency key: the gateway's checkpoint kept it to one refund.
    const sent = world.fake.ledger.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds');
    expect(sent.every((r) => r.idempotencyKey === undefined)).toBe(true);
    await session.close();
  });
});

describe('cost from the arguments, under the run cap ($50 per run)', () => {
  it('without the gateway: gift cards go out without end', async () => {
    const sent = [];
    for (const order of ['o1', 'o2', 'o3'])
      sent.push(textOf(await call(direct, 'send_gift_card', { order, dollars: 30 })));
    expect(sent.every((text) => text.startsWith('gift card gc_'))).toBe(true);
  });

  it('with the gateway: priced in dollars from the call, over $40 refused, the run stops at $50', async () => {
    const session = await shopGateway();
    const gift = (order: string, dollars: unknown) => call(session, 'send_gift_card', { order, dollars });
    expect(codeOf(await gift('o1', 45))).toBe('param_not_allowed');
    const first = await gift('o1', 30);
    expect(textOf(first)).toBe('gift card gc_1 of $30 for o1');
    // The same gift card again is the same call: replayed, the shop's server not called again.
    expect(textOf(await gift('o1', 30))).toBe(textOf(first));
    // $30 + $30 is over the run's $50: refused before the shop's server hears of it.
    expect(codeOf(await gift('o2', 30))).toBe('cap_exceeded');
    // What can't be priced is refused, not waved through.
    const unpriced = await gift('o3', 'lots');
    expect(unpriced.isError).toBe(true);
    expect(textOf(unpriced)).toContain('dollars must be a finite, non-negative amount');
    const fits = await gift('o4', 20);
    expect(textOf(fits)).toBe('gift card gc_2 of $20 for o4');
    const rows = await world.guard.audit.list();
    const executed = rows.filter((r) => r.vendor === 'giftco' && r.decision === 'executed');
    expect(executed.map((r) => [r.operation, r.amount])).toEqual([
      ['POST /gift_cards/o1', 30],
      ['POST /gift_cards/o4', 20],
    ]);
    await session.close();
  });
});

describe('a free tool', () => {
  it('runs every time, unpriced: a lookup is never answered from a checkpoint', async () => {
    const session = await shopGateway();
    const texts = [
      textOf(await call(session, 'lookup_order', { order: 'o1' })),
      textOf(await call(session, 'lookup_order', { order: 'o1' })),
    ];
    expect(texts).toEqual(['order o1 (lookup 1)', 'order o1 (lookup 2)']);
    await session.close();
  });
});
