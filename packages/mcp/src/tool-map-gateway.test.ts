/**
 * Another vendor's MCP server, which no built-in map knows, governed through the policy file's
 * `mcp:` section: the gateway started as a child process over stdio (`--builtin none --config
 * spendguard.json -- node shop-mcp-server.ts`), the SDK's own Client in front. The section names
 * each tool's operation, renames its arguments to the API params the policy's rules check, prices
 * it from its arguments or marks it free; what it leaves out is hidden and refused. Rows shown
 * without the gateway use a client straight to the shop's server. A malformed section stops the
 * gateway before it serves, naming each problem; the section's parser is checked by properties.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { type McpSection, PolicyError, parsePolicyText } from '@spendguard/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type Connected, SOURCE, startWorld, textOf, type World } from './test-world.ts';
import { toolMapOf } from './tool-map.ts';
import { REFUSAL_META_KEY } from './tool-result.ts';

const SHOP = fileURLToPath(new URL('./fixtures/shop-mcp-server.ts', import.meta.url));
const TOOL_MAP: McpSection = {
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
let upstream: string[];

beforeAll(async () => {
  // The policy file the gateway reads carries the tool map as its `mcp:` section.
  world = await startWorld('tool-map', { mcp: TOOL_MAP });
  upstream = [process.execPath, SHOP, '--api-base', world.stripe.url];
  const key = await world.issueKey('shop');
  shopGateway = () => world.gateway(key.token, { args: ['--builtin', 'none'], upstream, name: 'shop-agent' });
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

describe('a malformed mcp section', () => {
  /** Starts the gateway on `policy` with the SDK's Client, as an MCP client would; what it printed. */
  async function startOn(policy: string): Promise<{ connected: boolean; stderr: string }> {
    const config = join(world.dir, `malformed-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(config, policy);
    const key = await world.issueKey('shop');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [SOURCE, BIN, '--config', config, '--store', world.store, '--builtin', 'none', '--', ...upstream],
      env: { SPENDGUARD_KEY: key.token },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const client = new Client({ name: 'shop-agent', version: '1.0.0' });
    const connected = await client.connect(transport, { timeout: 15_000 }).then(
      () => true,
      () => false,
    );
    await client.close();
    return { connected, stderr };
  }

  it('stops the gateway before it serves, naming each problem, its path and its line', async () => {
    const { connected, stderr } = await startOn(
      [
        'policies:',
        '  shop:',
        '    stripe: { allow: ["POST /v1/refunds"] }',
        'mcp:',
        '  tools:',
        '    refund_order:',
        '      operation: stripe:POST /v1/refunds',
        '      params: { amount: cents }',
        '      cost: { amountArg: cents, currency: USD }',
        '    send_gift_card: { oparation: "giftco:POST /gift_cards/{order}" }',
        '    close_all_orders: maybe',
        '    lookup_order: { operation: "giftco:POST /lookup", cost: { usd: -1 } }',
      ].join('\n'),
    );
    expect(connected).toBe(false);
    expect(stderr).toContain('spendguard-mcp: Invalid policy in');
    for (const line of [
      'mcp.tools.refund_order.cost.currency (line 9): currency codes are 3 lowercase letters',
      'mcp.tools.send_gift_card (line 10): unknown key oparation; did you mean operation?',
      'mcp.tools.close_all_orders (line 11): expected "free" or { operation, params?, cost? }',
      'mcp.tools.lookup_order.cost.usd (line 12):',
    ])
      expect(stderr).toContain(line);
  });

  it('refuses a section that is not a map of tools, an unknown key beside tools, and a __proto__ tool', async () => {
    const policy = (mcp: string) =>
      ['policies:', '  shop:', '    stripe: { allow: ["POST /v1/refunds"] }', mcp].join('\n');
    const notAMap = await startOn(policy('mcp: [refund_order]'));
    expect(notAMap.connected).toBe(false);
    expect(notAMap.stderr).toContain('mcp (line 4): Invalid input: expected object, received array');
    const stray = await startOn(policy('mcp: { tools: {}, allow: ["POST /tools/close_all_orders"] }'));
    expect(stray.connected).toBe(false);
    expect(stray.stderr).toContain('unknown key allow');
    // A key that names a built-in property of JavaScript objects is refused before anything else.
    const proto = await startOn(policy('mcp:\n  tools:\n    __proto__: free'));
    expect(proto.connected).toBe(false);
    expect(proto.stderr).toContain('mcp.tools.__proto__ (line 6): __proto__ cannot be a key');
  });
});

describe("the mcp section's parser (properties)", () => {
  const BUILTIN = new Set(['__proto__', 'constructor', 'prototype']);
  const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/).filter((n) => !BUILTIN.has(n));
  const argPath = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8})?$/);
  const operation = fc
    .tuple(
      fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/),
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
      fc.array(fc.stringMatching(/^([a-z0-9_]{1,8}|\{[a-z]{1,6}\})$/), { minLength: 1, maxLength: 4 }),
    )
    .map(([vendor, method, segments]) => ({ vendor, method, path: `/${segments.join('/')}` }));
  const cost = fc.oneof(
    fc.record({ usd: fc.double({ min: 0, max: 1e6, noNaN: true }) }),
    fc.record(
      {
        amountArg: argPath,
        currency: fc.stringMatching(/^[a-z]{3}$/),
        unit: fc.constantFrom('minor' as const, 'major' as const),
      },
      { requiredKeys: ['amountArg', 'currency'] },
    ),
    fc.record({ amountArg: argPath, currencyArg: argPath }),
  );
  const tool = fc.oneof(
    fc.constant('free' as const),
    fc.record(
      {
        operation,
        params: fc.dictionary(name, argPath, { maxKeys: 4 }),
        cost,
      },
      { requiredKeys: ['operation'] },
    ),
  );
  const section = fc.dictionary(name, tool, { maxKeys: 6 });
  /** The section as a policy file holds it: each operation as `vendor:METHOD /path`. */
  const written = (
    tools: Record<string, 'free' | { operation: { vendor: string; method: string; path: string } }>,
  ) => ({
    tools: Object.fromEntries(
      Object.entries(tools).map(([n, t]) => [
        n,
        t === 'free'
          ? t
          : { ...t, operation: `${t.operation.vendor}:${t.operation.method} ${t.operation.path}` },
      ]),
    ),
  });
  const policyText = (mcp: unknown) => JSON.stringify({ policies: {}, mcp });

  it('reads every well-formed section: each tool free, or mapped onto the operation it names', () => {
    fc.assert(
      fc.property(section, (tools) => {
        const document = parsePolicyText(policyText(written(tools)), 'p.json');
        const map = toolMapOf(document.mcp) ?? {};
        expect(Object.keys(map).sort()).toEqual(Object.keys(tools).sort());
        for (const [n, t] of Object.entries(tools)) {
          const shape = map[n]?.shape;
          if (t === 'free') expect(shape).toEqual({ kind: 'free' });
          else expect(shape).toEqual({ kind: 'endpoint', ...t.operation });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses anything else with a PolicyError whose every problem is under mcp, never a crash', () => {
    const hostile = fc.oneof(
      fc.jsonValue().map((value) => value),
      fc.jsonValue().map((value) => ({ tools: value })),
      fc.tuple(name, fc.jsonValue()).map(([n, value]) => ({ tools: { [n]: value } })),
      fc
        .tuple(name, fc.jsonValue())
        .map(([n, value]) => ({ tools: { [n]: { operation: 'acme:POST /pay', cost: value } } })),
      fc
        .tuple(name, fc.jsonValue())
        .map(([n, value]) => ({ tools: { [n]: { operation: 'acme:POST /pay', params: value } } })),
    );
    fc.assert(
      fc.property(hostile, (mcp) => {
        let document: ReturnType<typeof parsePolicyText>;
        try {
          document = parsePolicyText(policyText(mcp), 'p.json');
        } catch (error) {
          expect(PolicyError.isInstance(error)).toBe(true);
          if (!PolicyError.isInstance(error)) return;
          expect(error.issues.length).toBeGreaterThan(0);
          for (const issue of error.issues) {
            expect(issue.path === 'mcp' || /^mcp[.[]/.test(issue.path)).toBe(true);
            expect(issue.message.length).toBeGreaterThan(0);
          }
          return;
        }
        // Accepted: then it maps every tool, and each mapping plans without throwing.
        const map = toolMapOf(document.mcp) ?? {};
        for (const mapping of Object.values(map)) expect(() => mapping.plan({})).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  it('refuses an unknown key in any of its objects, naming that key', () => {
    const where = fc.constantFrom('section', 'tool', 'cost');
    const stray = fc.stringMatching(/^[a-z][a-zA-Z]{0,12}$/).filter((k) => !BUILTIN.has(k));
    // A built-in key anywhere inside the stray value is refused first, under its own path and
    // message (see the parser's own test), so the values here hold none.
    const holdsBuiltin = (value: unknown): boolean =>
      typeof value === 'object' &&
      value !== null &&
      Object.entries(value).some(([k, v]) => BUILTIN.has(k) || holdsBuiltin(v));
    const strayValue = fc.jsonValue().filter((value) => !holdsBuiltin(value));
    fc.assert(
      fc.property(where, stray, strayValue, (at, key, value) => {
        const known: Record<string, string[]> = {
          section: ['tools'],
          tool: ['operation', 'params', 'cost'],
          cost: ['usd', 'amountArg', 'currency', 'currencyArg', 'unit'],
        };
        fc.pre(!(known[at] as string[]).includes(key));
        const costObject = { usd: 1, ...(at === 'cost' && { [key]: value }) };
        const toolObject = {
          operation: 'acme:POST /pay',
          cost: costObject,
          ...(at === 'tool' && { [key]: value }),
        };
        const mcp = { tools: { pay: toolObject }, ...(at === 'section' && { [key]: value }) };
        const path = { section: 'mcp', tool: 'mcp.tools.pay', cost: 'mcp.tools.pay.cost' }[at];
        try {
          parsePolicyText(policyText(mcp), 'p.json');
          expect.unreachable(`an unknown key ${key} was accepted at ${path}`);
        } catch (error) {
          expect(PolicyError.isInstance(error)).toBe(true);
          if (!PolicyError.isInstance(error)) return;
          expect(error.issues).toContainEqual(
            expect.objectContaining({ path, message: expect.stringContaining(`unknown key ${key}`) }),
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});
