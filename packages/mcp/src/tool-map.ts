import {
  type McpSection,
  type McpTool,
  type McpToolCost,
  minorToMajor,
  parsePolicyDocument,
  readParam,
} from '@spendguard/core';
import { fillPath, shown, type ToolMapping, type ToolPlan } from './tool-plan.ts';

/**
 * The tool map: how the tools of an MCP server spendguard has no built-in map for (or a tool
 * whose built-in mapping you want otherwise) map onto vendor operations, so the policy's rules
 * for that operation, its caps and approvals govern them. It is the policy file's `mcp:` section
 * (core checks its shape with the rest of the policy):
 *
 * ```yaml
 * mcp:
 *   tools:
 *     search_docs: free
 *     refund_order:
 *       operation: stripe:POST /v1/refunds
 *       params: { payment_intent: payment, amount: cents }
 *       cost: { amountArg: cents, currency: usd }
 *     send_fax: { operation: faxco:POST /faxes/{line}, cost: { usd: 0.05 } }
 * ```
 *
 * - `free`: the tool reaches no vendor API and moves no money: it runs, is audited, is not priced.
 * - `operation`: `vendor:METHOD /path`; `{name}` path segments are filled from the argument of
 *   that name. The policy must allow the operation (`vendor: { allow: [...] }`) and its param
 *   rules check the params.
 * - `params`: API param ← argument path (`customer.id`); default: the arguments as they are.
 * - `cost`: a fixed `{ usd }`, or from the arguments: `amountArg` in minor units (`unit: major`
 *   for major units) with a fixed `currency` or a `currencyArg`. Default: the vendor profile
 *   prices it (Stripe's does; a vendor without one needs a stated cost, `<vendor>.costs`).
 */

const OPERATION = /^([a-z][a-z0-9_-]{0,63}):(GET|POST|PUT|PATCH|DELETE) (\/\S{0,2047})$/;

/** Tool name → mapping, without a prototype: a tool named `constructor` finds nothing inherited. */
export type ToolMap = Readonly<Record<string, ToolMapping>>;

/** The mappings of a policy's (already validated) `mcp:` section; none without one. */
export function toolMapOf(section: McpSection | undefined): ToolMap | undefined {
  if (section === undefined) return undefined;
  const map: Record<string, ToolMapping> = Object.create(null);
  for (const [name, entry] of Object.entries(section.tools)) map[name] = mappingOf(entry);
  return map;
}

/**
 * An `mcp:` section given as a value (a program's own map): checked as the policy file's section
 * is, so a PolicyError lists every problem at its path (`mcp.tools.refund_order.cost`).
 */
export function parseToolMap(section: unknown, source?: string): ToolMap {
  const document = parsePolicyDocument({ policies: {}, mcp: section }, source);
  return toolMapOf(document.mcp) as ToolMap;
}

const free: ToolMapping = { shape: { kind: 'free' }, plan: () => ({ kind: 'free' }) };

function mappingOf(entry: McpTool): ToolMapping {
  if (entry === 'free') return free;
  const [, vendor, method, template] = OPERATION.exec(entry.operation) as unknown as [
    string,
    string,
    string,
    string,
  ];
  return {
    shape: { kind: 'endpoint', vendor, method, path: template },
    plan(args): ToolPlan {
      const filled = fillPath(template, args);
      const base = { vendor, method, path: filled.path, params: args };
      if ('invalid' in filled) return { kind: 'invalid', operation: base, message: filled.invalid };
      const params = entry.params ? pickParams(args, entry.params) : filled.params;
      const operation = { ...base, params };
      if (!entry.cost) return { kind: 'operation', operation, read: method === 'GET' };
      const cost = costOf(entry.cost, args);
      if ('invalid' in cost) return { kind: 'invalid', operation, message: cost.invalid };
      return { kind: 'operation', operation: { ...operation, cost }, read: method === 'GET' };
    },
  };
}

function pickParams(args: Record<string, unknown>, mapping: Record<string, string>): Record<string, unknown> {
  const params: Record<string, unknown> = Object.create(null);
  for (const [param, path] of Object.entries(mapping)) {
    const value = readParam(args, path);
    if (value !== undefined) params[param] = value;
  }
  return params;
}

const MINOR_UNITS = /^\d{1,15}$/;

/** The cost a call's arguments state: finite and non-negative, or the reason it can't be priced. */
function costOf(
  cost: McpToolCost,
  args: Record<string, unknown>,
): { amount: number; currency: string } | { invalid: string } {
  if ('usd' in cost) return { amount: cost.usd, currency: 'usd' };
  const currency = cost.currency ?? readParam(args, cost.currencyArg as string);
  if (typeof currency !== 'string' || !/^[A-Za-z]{3}$/.test(currency)) {
    return { invalid: `${cost.currencyArg} must be a three-letter currency code, got ${shown(currency)}` };
  }
  const raw = readParam(args, cost.amountArg);
  if (cost.unit === 'major') {
    const amount = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) {
      return { invalid: `${cost.amountArg} must be a finite, non-negative amount, got ${shown(raw)}` };
    }
    return { amount, currency: currency.toLowerCase() };
  }
  const minor =
    typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0
      ? raw
      : typeof raw === 'string' && MINOR_UNITS.test(raw)
        ? Number(raw)
        : undefined;
  if (minor === undefined) {
    return {
      invalid: `${cost.amountArg} must be a whole, non-negative amount in minor units, got ${shown(raw)}`,
    };
  }
  return { amount: minorToMajor(minor, currency), currency: currency.toLowerCase() };
}
