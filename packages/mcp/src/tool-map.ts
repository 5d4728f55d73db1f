import { readFileSync } from 'node:fs';
import { minorToMajor, PolicyError, readParam } from '@spendguard/core';
import { z } from 'zod';
import { fillPath, shown, type ToolMapping, type ToolPlan } from './tool-plan.ts';

/**
 * The tool map: how the tools of an MCP server spendguard has no built-in map for (or a tool
 * whose built-in mapping you want otherwise) map onto vendor operations, so the policy's rules
 * for that operation, its caps and approvals govern them. A JSON document:
 *
 * ```json
 * { "tools": {
 *   "search_docs": "free",
 *   "refund_order": {
 *     "operation": "stripe:POST /v1/refunds",
 *     "params": { "payment_intent": "payment", "amount": "cents" },
 *     "cost": { "amountArg": "cents", "currency": "usd" }
 *   },
 *   "send_fax": { "operation": "faxco:POST /faxes/{line}", "cost": { "usd": 0.05 } }
 * } }
 * ```
 *
 * - `"free"`: the tool reaches no vendor API and moves no money: it runs, is audited, is not priced.
 * - `operation`: `vendor:METHOD /path`; `{name}` path segments are filled from the argument of
 *   that name. The policy must allow the operation (`vendor: { allow: [...] }`) and its param
 *   rules check the params.
 * - `params`: API param ← argument path (`customer.id`); default: the arguments as they are.
 * - `cost`: a fixed `{ usd }`, or from the arguments: `amountArg` in minor units (`unit: "major"`
 *   for major units) with a fixed `currency` or a `currencyArg`. Default: the vendor profile
 *   prices it (Stripe's does; a vendor without one needs a stated cost, `<vendor>.costs`).
 */

const OPERATION = /^([a-z][a-z0-9_-]{0,63}):(GET|POST|PUT|PATCH|DELETE) (\/\S{0,2047})$/;
const BUILTIN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const argPath = z.string().min(1).max(200);

const costSchema = z.union(
  [
    z.strictObject({ usd: z.number().nonnegative().finite() }),
    z
      .strictObject({
        amountArg: argPath,
        currency: z
          .string()
          .regex(/^[a-z]{3}$/, { message: 'currency codes are 3 lowercase letters' })
          .optional(),
        currencyArg: argPath.optional(),
        unit: z.enum(['minor', 'major']).optional(),
      })
      .refine((c) => (c.currency === undefined) !== (c.currencyArg === undefined), {
        message: 'give exactly one of currency and currencyArg',
      }),
  ],
  { error: 'expected { usd } or { amountArg, currency | currencyArg, unit? }' },
);

const entrySchema = z.union(
  [
    z.literal('free'),
    z.strictObject({
      operation: z.string().regex(OPERATION, {
        message: 'expected "vendor:METHOD /path", e.g. "stripe:POST /v1/refunds"',
      }),
      params: z.record(z.string().min(1).max(200), argPath).optional(),
      cost: costSchema.optional(),
    }),
  ],
  { error: 'expected "free" or { operation, params?, cost? }' },
);

export const toolMapSchema = z.strictObject({
  version: z.literal(1).optional(),
  tools: z.record(z.string().min(1).max(128), entrySchema),
});

export type ToolMapDocument = z.infer<typeof toolMapSchema>;
type Entry = z.infer<typeof entrySchema>;
type Cost = z.infer<typeof costSchema>;

/** Tool name → mapping, without a prototype: a tool named `constructor` finds nothing inherited. */
export type ToolMap = Readonly<Record<string, ToolMapping>>;

/** A tool map document checked and turned into mappings; a PolicyError lists every problem. */
export function parseToolMap(document: unknown, file?: string): ToolMap {
  const builtins = builtinKeyIssues(document);
  const parsed = toolMapSchema.safeParse(document);
  if (builtins.length > 0 || !parsed.success) {
    const issues = [
      ...builtins,
      ...(parsed.success ? [] : parsed.error.issues).map((i) => ({
        path: i.path.map(String).join('.'),
        message: i.message,
      })),
    ];
    throw new PolicyError(file, issues);
  }
  const map: Record<string, ToolMapping> = Object.create(null);
  for (const [name, entry] of Object.entries(parsed.data.tools)) map[name] = mappingOf(entry);
  return map;
}

/** A tool map from a JSON file. */
export function loadToolMapFile(file: string): ToolMap {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new PolicyError(
      file,
      [{ path: '', message: `cannot read the tool map: ${(error as Error).message}` }],
      {
        cause: error,
      },
    );
  }
  return parseToolMap(document, file);
}

/** `__proto__`, `constructor` and `prototype` as keys anywhere: zod would drop or follow them. */
function builtinKeyIssues(document: unknown): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  const visit = (value: unknown, path: string[], depth: number) => {
    if (value === null || typeof value !== 'object' || depth > 8) return;
    for (const key of Object.keys(value)) {
      if (BUILTIN_KEYS.has(key)) {
        issues.push({ path: [...path, key].join('.'), message: `${key} cannot be a key` });
      } else {
        visit((value as Record<string, unknown>)[key], [...path, key], depth + 1);
      }
    }
  };
  visit(document, [], 0);
  return issues;
}

const free: ToolMapping = { shape: { kind: 'free' }, plan: () => ({ kind: 'free' }) };

function mappingOf(entry: Entry): ToolMapping {
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
  cost: Cost,
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
