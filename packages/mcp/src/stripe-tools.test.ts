import { describe, expect, it } from 'vitest';
import { STRIPE_OPERATION_IDS, stripeEndpoint } from './stripe-operation-ids.ts';
import { STRIPE_TOOL_NAMES, stripeTool } from './stripe-tools.ts';
import type { ToolPlan } from './tool-plan.ts';

/** The plan of a built-in tool for plain arguments (as the gateway decodes them: no prototype). */
function plan(name: string, args: Record<string, unknown>): ToolPlan {
  const mapping = stripeTool(name);
  if (!mapping) throw new Error(`no built-in mapping for ${name}`);
  return mapping.plan(Object.assign(Object.create(null), args));
}

function operationOf(p: ToolPlan) {
  if (p.kind !== 'operation')
    throw new Error(`expected an operation, got ${p.kind}: ${'message' in p ? p.message : ''}`);
  return { ...p.operation, params: { ...p.operation.params } };
}

describe("Stripe's named MCP tools", () => {
  it.each([
    [
      'create_refund',
      { payment_intent: 'pi_1', amount: 500 },
      'POST',
      '/v1/refunds',
      { payment_intent: 'pi_1', amount: 500 },
    ],
    ['create_customer', { name: 'Ada' }, 'POST', '/v1/customers', { name: 'Ada' }],
    ['finalize_invoice', { invoice: 'in_1' }, 'POST', '/v1/invoices/in_1/finalize', {}],
    ['cancel_subscription', { subscription: 'sub_1' }, 'DELETE', '/v1/subscriptions/sub_1', {}],
    [
      'update_subscription',
      { subscription: 'sub_1', proration_behavior: 'none' },
      'POST',
      '/v1/subscriptions/sub_1',
      { proration_behavior: 'none' },
    ],
    [
      'create_invoice_item',
      { customer: 'cus_1', price: 'price_1', invoice: 'in_1' },
      'POST',
      '/v1/invoiceitems',
      { customer: 'cus_1', price: 'price_1', invoice: 'in_1' },
    ],
    ['update_dispute', { dispute: 'dp_1', submit: true }, 'POST', '/v1/disputes/dp_1', { submit: true }],
  ])('%s maps onto %s %s', (name, args, method, path, params) => {
    expect(operationOf(plan(name, args))).toEqual({ vendor: 'stripe', method: method, path, params });
  });

  it('maps create_payment_link onto line items, so the price it names can be read and priced', () => {
    const op = operationOf(
      plan('create_payment_link', { price: 'price_1', quantity: 3, redirect_url: 'https://x.test' }),
    );
    expect(op.path).toBe('/v1/payment_links');
    expect(JSON.parse(JSON.stringify(op.params))).toEqual({
      line_items: [{ price: 'price_1', quantity: 3 }],
      after_completion: { type: 'redirect', redirect: { url: 'https://x.test' } },
    });
  });

  it("gives an amount_off coupon the USD currency Stripe's tool defaulted to, and makes invoices sent ones", () => {
    expect(operationOf(plan('create_coupon', { amount_off: 500 })).params).toEqual({
      amount_off: 500,
      currency: 'usd',
    });
    expect(operationOf(plan('create_coupon', { percent_off: 20 })).params).toEqual({ percent_off: 20 });
    expect(operationOf(plan('create_invoice', { customer: 'cus_1' })).params).toEqual({
      collection_method: 'send_invoice',
      customer: 'cus_1',
    });
  });

  it('reads list tools as reads, and documentation tools as free', () => {
    const list = plan('list_customers', { limit: 3 });
    expect(list.kind === 'operation' && list.read).toBe(true);
    for (const name of [
      'search_documentation',
      'stripe_implementation_planner',
      'send_stripe_mcp_feedback',
    ]) {
      expect(plan(name, {}).kind).toBe('free');
    }
  });

  it('refuses an id that is missing or could walk the path', () => {
    for (const invoice of [undefined, '../customers', 'in_1/pay', 'in 1', 7, { id: 'in_1' }]) {
      const p = plan('finalize_invoice', invoice === undefined ? {} : { invoice });
      expect(p.kind).toBe('invalid');
      if (p.kind === 'invalid') expect(p.operation.path).not.toContain('..');
    }
  });

  it('knows the tools Stripe lists for money: each has a mapping', () => {
    for (const name of [
      'create_refund',
      'create_payment_link',
      'create_invoice_item',
      'finalize_invoice',
      'create_coupon',
      'cancel_subscription',
      'stripe_api_write',
    ]) {
      expect(STRIPE_TOOL_NAMES).toContain(name);
    }
  });
});

describe("Stripe's generic tools", () => {
  it('maps stripe_api_write PostRefunds onto the same operation as create_refund, so one checkpoint covers both', () => {
    const generic = operationOf(
      plan('stripe_api_write', {
        stripe_api_operation_id: 'PostRefunds',
        parameters: { payment_intent: 'pi_1', amount: 500 },
      }),
    );
    expect(generic).toEqual(operationOf(plan('create_refund', { payment_intent: 'pi_1', amount: 500 })));
  });

  it('fills path parameters from parameters and takes stripe_context as the account', () => {
    const p = plan('stripe_api_write', {
      stripe_api_operation_id: 'PostInvoicesInvoiceFinalize',
      parameters: { invoice: 'in_9', auto_advance: true },
      stripe_context: 'acct_123',
      livemode: false,
    });
    expect(p.kind).toBe('operation');
    if (p.kind !== 'operation') return;
    expect({ ...p.operation, params: { ...p.operation.params } }).toEqual({
      vendor: 'stripe',
      method: 'POST',
      path: '/v1/invoices/in_9/finalize',
      params: { auto_advance: true },
      account: 'acct_123',
    });
    // Arguments that are not API params still make it another call.
    expect({ ...p.extra }).toEqual({ livemode: false });
  });

  it('maps a subscription cancel through its exposed-id path', () => {
    expect(
      operationOf(
        plan('stripe_api_write', {
          stripe_api_operation_id: 'DeleteSubscriptionsSubscriptionExposedId',
          parameters: { subscription_exposed_id: 'sub_1' },
        }),
      ),
    ).toMatchObject({ method: 'DELETE', path: '/v1/subscriptions/sub_1' });
  });

  it.each([
    [
      { stripe_api_operation_id: 'PostSomethingNew', parameters: {} },
      'not a Stripe operation spendguard knows',
    ],
    [{ parameters: {} }, 'must name a Stripe API operation'],
    [{ stripe_api_operation_id: 'GetCharges', parameters: {} }, 'is a read'],
    [{ stripe_api_operation_id: 'PostRefunds', parameters: [] }, 'parameters must be an object'],
    [
      { stripe_api_operation_id: 'PostRefunds', parameters: {}, stripe_context: 'cus_1' },
      'stripe_context must be an account id',
    ],
    [
      { stripe_api_operation_id: 'PostInvoicesInvoicePay', parameters: { invoice: 'in_1?x=1' } },
      'invoice must be an id',
    ],
    [{ stripe_api_operation_id: 'constructor', parameters: {} }, 'not a Stripe operation'],
  ])('refuses a write it cannot read: %j', (args, message) => {
    const p = plan('stripe_api_write', args);
    expect(p.kind).toBe('invalid');
    if (p.kind === 'invalid') expect(p.message).toContain(message);
  });

  it('keeps stripe_api_read to reads', () => {
    const p = plan('stripe_api_read', { stripe_api_operation_id: 'PostRefunds', parameters: {} });
    expect(p.kind === 'invalid' && p.message).toContain('is a write');
    const read = plan('stripe_api_read', {
      stripe_api_operation_id: 'GetChargesCharge',
      parameters: { charge: 'ch_1' },
    });
    expect(read.kind === 'operation' && read.read && read.operation.path).toBe('/v1/charges/ch_1');
  });
});

describe('the operation id table', () => {
  it("names the operations Stripe's remote MCP server is seen taking", () => {
    expect(stripeEndpoint('PostRefunds')).toEqual({ method: 'POST', path: '/v1/refunds' });
    expect(stripeEndpoint('PostCheckoutSessions')).toEqual({ method: 'POST', path: '/v1/checkout/sessions' });
    expect(stripeEndpoint('PostPaymentLinks')).toEqual({ method: 'POST', path: '/v1/payment_links' });
    expect(stripeEndpoint('PostDisputesDispute')).toEqual({ method: 'POST', path: '/v1/disputes/{dispute}' });
    expect(stripeEndpoint('GetCharges')).toEqual({ method: 'GET', path: '/v1/charges' });
    expect(stripeEndpoint('toString')).toBeUndefined();
  });

  it('has well-formed entries: the method starts the id, paths are /v1/ with {name} segments', () => {
    for (const id of STRIPE_OPERATION_IDS) {
      const endpoint = stripeEndpoint(id);
      expect(endpoint).toBeDefined();
      if (!endpoint) continue;
      expect(id.toLowerCase().startsWith(endpoint.method.toLowerCase())).toBe(true);
      expect(endpoint.path).toMatch(/^\/v1(\/([a-z_]+|\{[a-z_]+\}))+$/);
    }
  });
});
