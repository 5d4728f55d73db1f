import { stripeEndpoint } from './stripe-operation-ids.ts';
import { fillPath, type PlannedOperation, shown, type ToolMapping, type ToolPlan } from './tool-plan.ts';

/**
 * The built-in map of Stripe's MCP tools (`@stripe/mcp`, mcp.stripe.com) onto the Stripe API
 * operations they perform, so the `stripe:` allow rules, caps and approvals that govern the SDK
 * and the proxy govern these tools too. Named tools as stripe/ai defined them; the generic
 * `stripe_api_read` / `stripe_api_write` by their `stripe_api_operation_id`. Their annotations
 * are no money signal (create_refund says `destructiveHint: false`), so they are not read.
 */

type Args = Record<string, unknown>;

const VENDOR = 'stripe';

/** A named tool that performs one endpoint; `params` turns its arguments into the API's params. */
function endpoint(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  params: (args: Args) => Args = (args) => args,
): ToolMapping {
  return {
    shape: { kind: 'endpoint', vendor: VENDOR, method, path },
    plan(args) {
      const filled = fillPath(path, args);
      if ('invalid' in filled) return invalid({ method, path: filled.path, params: args }, filled.invalid);
      const operation = { vendor: VENDOR, method, path: filled.path, params: params(filled.params) };
      return { kind: 'operation', operation, read: method === 'GET' };
    },
  };
}

/** A tool that reaches no vendor API (documentation, planning, feedback): it moves no money. */
const free: ToolMapping = { shape: { kind: 'free' }, plan: () => ({ kind: 'free' }) };

function invalid(operation: Omit<PlannedOperation, 'vendor'>, message: string): ToolPlan {
  return { kind: 'invalid', operation: { vendor: VENDOR, ...operation }, message };
}

/** A new plain record: tool arguments are null-prototype copies, and so are the params built from them. */
function record(entries: Args): Args {
  const out: Args = Object.create(null);
  for (const [key, value] of Object.entries(entries)) if (value !== undefined) out[key] = value;
  return out;
}

/** `create_payment_link` takes one price and a quantity; the API takes line items. */
function paymentLinkParams(args: Args): Args {
  const { price, quantity, redirect_url, ...rest } = args;
  return record({
    ...rest,
    line_items: [record({ price, quantity })],
    after_completion:
      redirect_url === undefined
        ? undefined
        : record({ type: 'redirect', redirect: record({ url: redirect_url }) }),
  });
}

/** `create_invoice` makes invoices Stripe sends for the customer to pay. */
function invoiceParams(args: Args): Args {
  return record({ collection_method: 'send_invoice', ...args });
}

/** `create_coupon` defaults the currency of an `amount_off` coupon to USD, as Stripe's tool did. */
function couponParams(args: Args): Args {
  const amountOff = args.amount_off;
  return record({ ...args, currency: args.currency ?? (amountOff === undefined ? undefined : 'usd') });
}

/**
 * `stripe_api_read` / `stripe_api_write`: `{ stripe_api_operation_id, parameters, stripe_context? }`.
 * Path parameters come out of `parameters`; `stripe_context` names the connected account the call
 * acts on. Other arguments (`livemode`, a confirmation token) are not API params, but they make
 * the call another call, so they are kept beside the operation.
 */
function dispatcher(tool: string, reads: boolean): ToolMapping {
  const methods = reads ? ['GET'] : ['POST', 'DELETE'];
  return {
    shape: { kind: 'dispatcher', vendor: VENDOR, methods },
    plan(args) {
      const {
        stripe_api_operation_id: operationId,
        parameters = Object.create(null),
        stripe_context: account,
        ...extra
      } = args;
      const unknownOperation = { method: reads ? 'GET' : 'POST', path: `/${tool}`, params: args };
      if (typeof operationId !== 'string') {
        return invalid(unknownOperation, 'stripe_api_operation_id must name a Stripe API operation');
      }
      const endpoint = stripeEndpoint(operationId);
      if (!endpoint) {
        return invalid(
          unknownOperation,
          `stripe_api_operation_id ${shown(operationId)} is not a Stripe operation spendguard knows, so it cannot be checked against the policy`,
        );
      }
      if (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters)) {
        return invalid({ ...endpoint, params: args }, 'parameters must be an object');
      }
      if (
        account !== undefined &&
        (typeof account !== 'string' || !/^acct_[A-Za-z0-9]{1,64}$/.test(account))
      ) {
        return invalid(
          { ...endpoint, params: args },
          `stripe_context must be an account id (acct_…), got ${shown(account)}`,
        );
      }
      if (!methods.includes(endpoint.method)) {
        return invalid(
          { ...endpoint, params: args },
          `${tool} ${reads ? 'reads' : 'writes'}; ${operationId} is ${endpoint.method === 'GET' ? 'a read' : 'a write'}`,
        );
      }
      const filled = fillPath(endpoint.path, parameters as Args);
      const operation: PlannedOperation = {
        vendor: VENDOR,
        method: endpoint.method,
        path: filled.path,
        params: 'invalid' in filled ? (parameters as Args) : filled.params,
        ...(account !== undefined && { account }),
      };
      if ('invalid' in filled) return { kind: 'invalid', operation, message: filled.invalid };
      return {
        kind: 'operation',
        operation,
        read: reads,
        ...(Object.keys(extra).length > 0 && { extra }),
      };
    },
  };
}

const tools: Record<string, ToolMapping> = Object.assign(Object.create(null), {
  create_customer: endpoint('POST', '/v1/customers'),
  list_customers: endpoint('GET', '/v1/customers'),
  create_product: endpoint('POST', '/v1/products'),
  list_products: endpoint('GET', '/v1/products'),
  create_price: endpoint('POST', '/v1/prices'),
  list_prices: endpoint('GET', '/v1/prices'),
  create_payment_link: endpoint('POST', '/v1/payment_links', paymentLinkParams),
  create_invoice: endpoint('POST', '/v1/invoices', invoiceParams),
  list_invoices: endpoint('GET', '/v1/invoices'),
  create_invoice_item: endpoint('POST', '/v1/invoiceitems'),
  finalize_invoice: endpoint('POST', '/v1/invoices/{invoice}/finalize'),
  retrieve_balance: endpoint('GET', '/v1/balance'),
  create_refund: endpoint('POST', '/v1/refunds'),
  list_payment_intents: endpoint('GET', '/v1/payment_intents'),
  list_subscriptions: endpoint('GET', '/v1/subscriptions'),
  cancel_subscription: endpoint('DELETE', '/v1/subscriptions/{subscription}'),
  update_subscription: endpoint('POST', '/v1/subscriptions/{subscription}'),
  list_coupons: endpoint('GET', '/v1/coupons'),
  create_coupon: endpoint('POST', '/v1/coupons', couponParams),
  update_dispute: endpoint('POST', '/v1/disputes/{dispute}'),
  list_disputes: endpoint('GET', '/v1/disputes'),
  get_stripe_account_info: endpoint('GET', '/v1/account'),
  stripe_api_read: dispatcher('stripe_api_read', true),
  stripe_api_write: dispatcher('stripe_api_write', false),
  search_documentation: free,
  search_stripe_documentation: free,
  stripe_api_search: free,
  stripe_api_details: free,
  stripe_implementation_planner: free,
  send_stripe_mcp_feedback: free,
} satisfies Record<string, ToolMapping>);

/** The built-in mapping of one of Stripe's MCP tools, by name; only the map's own entries count. */
export function stripeTool(name: string): ToolMapping | undefined {
  return Object.hasOwn(tools, name) ? tools[name] : undefined;
}

/** The names of Stripe's MCP tools the built-in map knows. */
export const STRIPE_TOOL_NAMES: readonly string[] = Object.keys(tools);
