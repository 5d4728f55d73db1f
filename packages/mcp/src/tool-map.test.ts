import { PolicyError, parsePolicyText } from '@spendguard/core';
import { describe, expect, it } from 'vitest';
import { parseToolMap, toolMapOf } from './tool-map.ts';
import { toolMappings } from './tool-mappings.ts';
import type { ToolPlan } from './tool-plan.ts';

const MAP = parseToolMap({
  tools: {
    search_docs: 'free',
    refund_order: {
      operation: 'stripe:POST /v1/refunds',
      params: { payment_intent: 'payment', amount: 'cents' },
      cost: { amountArg: 'cents', currency: 'usd' },
    },
    send_fax: { operation: 'faxco:POST /faxes/{line}', cost: { usd: 0.05 } },
    pay_vendor: {
      operation: 'acme:POST /payments',
      cost: { amountArg: 'total.value', currencyArg: 'total.currency', unit: 'major' },
    },
    charge_yen: { operation: 'acme:POST /charges', cost: { amountArg: 'amount', currency: 'jpy' } },
  },
});

function plan(name: string, args: Record<string, unknown>): ToolPlan {
  return toolMappings('stripe', MAP)(name).plan(args);
}

describe('the tool map', () => {
  it('maps a tool onto a vendor operation, renaming its arguments to the API params the policy checks', () => {
    const p = plan('refund_order', { payment: 'pi_1', cents: 1250, note: 'not sent to the policy' });
    expect(p).toEqual({
      kind: 'operation',
      read: false,
      operation: {
        vendor: 'stripe',
        method: 'POST',
        path: '/v1/refunds',
        params: { payment_intent: 'pi_1', amount: 1250 },
        cost: { amount: 12.5, currency: 'usd' },
      },
    });
  });

  it('prices from the arguments in minor or major units, or at a fixed USD price', () => {
    expect(plan('charge_yen', { amount: 500 })).toMatchObject({
      operation: { cost: { amount: 500, currency: 'jpy' } },
    });
    expect(plan('pay_vendor', { total: { value: '12.30', currency: 'EUR' } })).toMatchObject({
      operation: { cost: { amount: 12.3, currency: 'eur' } },
    });
    expect(plan('send_fax', { line: 'L1' })).toMatchObject({
      operation: { path: '/faxes/L1', cost: { amount: 0.05, currency: 'usd' } },
    });
  });

  it.each([-1, 12.5, '12.5', 'ten', Number.NaN, null, { amount: 5 }, 1e16])(
    'denies a cost it cannot price: cents = %j',
    (cents) => {
      const p = plan('refund_order', { payment: 'pi_1', cents });
      expect(p.kind).toBe('invalid');
      if (p.kind === 'invalid') expect(p.message).toContain('cents must be a whole, non-negative amount');
    },
  );

  it('denies a currency that is not a code, and an id that could walk the path', () => {
    expect(plan('pay_vendor', { total: { value: 5, currency: 'dollars' } }).kind).toBe('invalid');
    expect(plan('send_fax', { line: '../admin' }).kind).toBe('invalid');
  });

  it('wins over the built-in map, and leaves unknown tools unmapped', () => {
    const mappings = toolMappings('stripe', parseToolMap({ tools: { create_coupon: 'free' } }));
    expect(mappings('create_coupon').plan({}).kind).toBe('free');
    expect(mappings('create_refund').shape).toMatchObject({ kind: 'endpoint', path: '/v1/refunds' });
    expect(mappings('delete_everything').plan({})).toMatchObject({
      kind: 'operation',
      operation: { vendor: 'mcp', method: 'POST', path: '/tools/delete_everything' },
    });
    // Without the built-in map, Stripe's names are unmapped too.
    expect(toolMappings('none', undefined)('create_refund').shape).toMatchObject({ vendor: 'mcp' });
  });

  it('finds nothing inherited: a tool named like an Object.prototype member is unmapped', () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty']) {
      expect(toolMappings('stripe', MAP)(name).shape).toMatchObject({ kind: 'endpoint', vendor: 'mcp' });
    }
  });

  it.each([
    [{ tools: { x: { operation: 'POST /v1/refunds' } } }, 'mcp.tools.x.operation'],
    [
      {
        tools: {
          x: {
            operation: 'stripe:POST /v1/refunds',
            cost: { amountArg: 'a', currency: 'usd', currencyArg: 'c' },
          },
        },
      },
      'mcp.tools.x.cost',
    ],
    [{ tools: { x: { operation: 'stripe:POST /v1/refunds', cost: { usd: -1 } } } }, 'mcp.tools.x.cost.usd'],
    [{ tools: { x: 'maybe' } }, 'mcp.tools.x'],
    [{ tools: {}, extra: true }, 'mcp'],
    [JSON.parse('{"tools": {"__proto__": "free"}}'), 'mcp.tools.__proto__'],
  ])('refuses a malformed tool map, saying where: %j', (section, path) => {
    try {
      parseToolMap(section, 'program');
      expect.unreachable('the map should be refused');
    } catch (error) {
      expect(PolicyError.isInstance(error)).toBe(true);
      if (PolicyError.isInstance(error)) {
        expect(error.file).toBe('program');
        expect(error.issues.map((i) => i.path)).toContain(path);
      }
    }
  });

  it("is read from the policy's mcp section, next to the vendor sections it maps onto", () => {
    const document = parsePolicyText(
      [
        'policies:',
        '  shop:',
        '    stripe: { allow: ["POST /v1/refunds"] }',
        'mcp:',
        '  tools:',
        '    search_docs: free',
        '    refund_order: { operation: "stripe:POST /v1/refunds", params: { amount: cents } }',
      ].join('\n'),
      'spendguard.yaml',
    );
    const map = toolMapOf(document.mcp);
    expect(map?.search_docs?.plan({})).toEqual({ kind: 'free' });
    expect(map?.refund_order?.plan({ cents: 5 })).toMatchObject({ operation: { params: { amount: 5 } } });
    expect(toolMapOf(undefined)).toBeUndefined();
  });
});
