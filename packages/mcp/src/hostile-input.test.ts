/**
 * Tool arguments come from a model: anything may be in them. Property tests over the mapping and
 * pricing of arguments: no input reaches a prototype, throws, or takes unbounded time; every
 * price that reaches a cap is finite and non-negative; what can't be priced is denied, and the
 * vendor is never called for it.
 */
import {
  createGuard,
  isCanonicalPath,
  MemoryStore,
  type PolicyDocument,
  RequestInvalidError,
  resolvePolicy,
  toPlainData,
} from '@spendguard/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mcpStripeProfile } from './mcp-stripe-profile.ts';
import { STRIPE_TOOL_NAMES } from './stripe-tools.ts';
import { parseToolMap } from './tool-map.ts';
import { toolMappings } from './tool-mappings.ts';
import type { ToolPlan } from './tool-plan.ts';

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];
const keyArb = fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ maxLength: 12 }));
const idArb = fc.oneof(
  fc.constantFrom(
    'pi_1',
    'in_1',
    'sub_1',
    'price_1',
    'acct_1',
    '../x',
    'a/b',
    '',
    'in_1?x',
    '%2e%2e',
    'constructor',
  ),
  fc.string({ maxLength: 20 }),
);
const amountArb = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.double(),
  fc.constantFrom(
    Number.NaN,
    Infinity,
    -Infinity,
    -0,
    2 ** 53,
    1e300,
    '500',
    '-5',
    '1e3',
    '0x10',
    ' 7 ',
    '',
    null,
    true,
  ),
  fc.string({ maxLength: 8 }),
);
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  amountArb,
  idArb,
  fc.jsonValue({ depthSize: 'small' }),
  fc.dictionary(keyArb, fc.jsonValue({ depthSize: 'small' }), { maxKeys: 4 }),
);
/** Arguments as a model might write them, Stripe's parameter names mixed with hostile keys. */
const argsArb = fc.dictionary(
  fc.oneof(
    keyArb,
    fc.constantFrom(
      'payment_intent',
      'amount',
      'currency',
      'invoice',
      'subscription',
      'price',
      'quantity',
      'stripe_api_operation_id',
      'parameters',
      'stripe_context',
      'line_items',
    ),
  ),
  valueArb,
  { maxKeys: 8 },
);
const toolArb = fc.oneof(
  fc.constantFrom(...STRIPE_TOOL_NAMES),
  fc.constantFrom(...HOSTILE_KEYS),
  fc.string({ maxLength: 200 }),
);

/** The arguments as the gateway decodes them, or undefined when it refuses them outright. */
function decoded(args: unknown): Record<string, unknown> | undefined {
  try {
    return toPlainData(args, 'arguments') as Record<string, unknown>;
  } catch (error) {
    if (RequestInvalidError.isInstance(error)) return undefined;
    throw error;
  }
}

function pristinePrototype(): boolean {
  const probe = {} as Record<string, unknown>;
  return probe.polluted === undefined && Object.keys(Object.prototype).length === 0;
}

describe('mapping hostile tool arguments', () => {
  const mappingOf = toolMappings('stripe', undefined);

  it('never throws, reaches a prototype or walks a path, and stays fast', () => {
    fc.assert(
      fc.property(toolArb, argsArb, (tool, raw) => {
        // Keys like __proto__ as own properties, as JSON.parse makes them.
        const args = decoded(JSON.parse(JSON.stringify(raw)));
        if (!args) return;
        const started = performance.now();
        const plan: ToolPlan = mappingOf(tool).plan(args);
        expect(performance.now() - started).toBeLessThan(50);
        expect(['free', 'operation', 'invalid']).toContain(plan.kind);
        expect(pristinePrototype()).toBe(true);
        if (plan.kind === 'operation') {
          const { path, params, vendor } = plan.operation;
          // Canonical: no `..` or `.` segment, no percent-encoding, `?` or `#`.
          if (vendor === 'stripe') expect(isCanonicalPath(path)).toBe(true);
          const proto = Object.getPrototypeOf(params);
          expect(proto === null || proto === Object.prototype).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('prices from arguments only as finite, non-negative money; anything else is invalid', () => {
    const mappings = toolMappings(
      'none',
      parseToolMap({
        tools: {
          pay: { operation: 'acme:POST /pay', cost: { amountArg: 'amount', currencyArg: 'currency' } },
          pay_major: {
            operation: 'acme:POST /pay',
            cost: { amountArg: 'amount', currency: 'eur', unit: 'major' },
          },
        },
      }),
    );
    fc.assert(
      fc.property(fc.constantFrom('pay', 'pay_major'), amountArb, valueArb, (tool, amount, currency) => {
        const args = decoded({ amount, currency });
        if (!args) return;
        const plan = mappings(tool).plan(args);
        if (plan.kind === 'invalid') return;
        expect(plan.kind).toBe('operation');
        const cost = plan.kind === 'operation' ? plan.operation.cost : undefined;
        expect(cost).toBeDefined();
        expect(Number.isFinite(cost?.amount)).toBe(true);
        expect(cost?.amount).toBeGreaterThanOrEqual(0);
        expect(cost?.currency).toMatch(/^[a-z]{3}$/);
      }),
      { numRuns: 400 },
    );
  });
});

describe('pricing hostile params and hostile vendor answers', () => {
  const paths = [
    '/v1/refunds',
    '/v1/payment_links',
    '/v1/invoiceitems',
    '/v1/invoices/in_1/finalize',
    '/v1/coupons',
    '/v1/payment_intents',
    '/v1/payment_intents/pi_1/capture',
    '/v1/subscriptions',
  ];
  const policy = resolvePolicy('p', { stripe: { allow: [] } });

  it('answers a cost that is finite and non-negative, or says why not, in bounded time', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        argsArb,
        fc.oneof(
          fc.anything({ maxDepth: 3 }),
          fc.record({ unit_amount: amountArb, currency: valueArb, amount_due: amountArb, amount: amountArb }),
        ),
        async (path, raw, answer) => {
          const params = decoded(JSON.parse(JSON.stringify(raw)));
          if (!params) return;
          const started = performance.now();
          const estimate = await mcpStripeProfile.estimate(
            { method: 'POST', path, params },
            { policy, lookup: async () => answer },
          );
          expect(performance.now() - started).toBeLessThan(200);
          if ('cost' in estimate) {
            expect(Number.isFinite(estimate.cost.amount)).toBe(true);
            expect(estimate.cost.amount).toBeGreaterThanOrEqual(0);
            expect(typeof estimate.cost.currency).toBe('string');
          } else {
            expect('unknown' in estimate || 'invalid' in estimate).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('hostile refunds through a guard', () => {
  const policies: PolicyDocument = {
    policies: {
      billing: {
        stripe: { allow: [{ 'POST /v1/refunds': { amount: { max: 5000 } } }] },
        caps: { perKey: 1_000_000 },
      },
    },
    credentials: { stripe: { env: 'SPENDGUARD_MCP_HOSTILE_TEST_KEY' } },
  };
  process.env.SPENDGUARD_MCP_HOSTILE_TEST_KEY = 'sk_test_hostile_0123456789';
  const mappingOf = toolMappings('stripe', undefined);

  it('calls the vendor only for a refund it priced within the rule; never for one it could not price', async () => {
    const guard = createGuard({ policies, store: new MemoryStore() });
    const { token } = await guard.keys.issueRoot({ policy: 'billing' });
    let executed = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('create_refund', 'stripe_api_write'),
        fc.record(
          {
            payment_intent: idArb,
            amount: fc.oneof(fc.integer({ min: 0, max: 6000 }), amountArb),
            currency: fc.oneof(fc.constant('usd'), valueArb),
            charge: idArb,
          },
          { requiredKeys: [] },
        ),
        fc.oneof(
          fc.anything({ maxDepth: 2 }),
          fc.record({
            amount: amountArb,
            amount_received: amountArb,
            amount_refunded: amountArb,
            currency: valueArb,
          }),
        ),
        async (tool, refund, intent) => {
          const raw =
            tool === 'create_refund'
              ? refund
              : { stripe_api_operation_id: 'PostRefunds', parameters: refund };
          const args = decoded(JSON.parse(JSON.stringify(raw)));
          if (!args) return;
          const plan = mappingOf(tool).plan(args);
          if (plan.kind === 'free') throw new Error('a refund is never free');
          let called = 0;
          const decision = await guard.execute(
            {
              key: token,
              ...plan.operation,
              lookup: async () => intent,
              ...(plan.kind === 'invalid' && { invalidRequest: plan.message }),
            },
            async () => {
              called += 1;
              return { content: [] };
            },
          );
          if (plan.kind === 'invalid') expect(called).toBe(0);
          if (called > 0) {
            executed += 1;
            expect(decision.decision).toBe('executed');
            const usd = decision.estimatedCostUsd as number;
            expect(Number.isFinite(usd)).toBe(true);
            expect(usd).toBeGreaterThanOrEqual(0);
            // Never above the rule's max ($50 in USD), whether the amount was given or read from the payment.
            expect(usd).toBeLessThanOrEqual(50);
            const given = Number(plan.operation.params.amount ?? 0);
            expect(given).toBeLessThanOrEqual(5000);
          } else {
            expect(decision.decision).not.toBe('executed');
          }
        },
      ),
      { numRuns: 150 },
    );
    // The property held over calls that ran, not only over refusals.
    expect(executed).toBeGreaterThan(0);
    await guard.close();
  });
});
