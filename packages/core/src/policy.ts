import { z } from 'zod';
import { type Duration, parseDuration } from './duration.ts';
import { SpendguardError } from './errors.ts';

/**
 * The policy document (`spendguard.yaml`): named policies, each listing what a key may do per
 * vendor, its caps in USD, rate limit, dedup window, key TTL, approval rules, alert thresholds and
 * FX rates; plus where each vendor's real credential comes from. Anything not allowed is denied.
 */

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const OPERATION = /^(GET|POST|PUT|PATCH|DELETE) (\/\S*)$/;

/**
 * Keys that name built-in members of every JS object. A table keyed by one could shadow or reach
 * Object.prototype, and zod's records drop `__proto__` silently, so they are refused anywhere.
 */
const BUILTIN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Names longer than this get no suggestion: they are not typos, and comparing them costs length². */
const MAX_SUGGESTED_LENGTH = 200;

/** Edit distance counting insertions, deletions, substitutions and swaps of adjacent characters. */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let best = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, (before[j - 2] as number) + 1);
      current.push(best);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The candidate nearest to `name` when it is close enough to be what was meant: about one edit
 * per three characters, so "mx" → max, "cap" → caps, "perMinut" → perMinute.
 */
function nearestName(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > MAX_SUGGESTED_LENGTH) return undefined;
  let nearest: { name: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const limit = Math.max(1, Math.floor(Math.max(name.length, candidate.length) / 3));
    if (Math.abs(name.length - candidate.length) > limit || candidate.length > MAX_SUGGESTED_LENGTH) continue;
    const distance = editDistance(name, candidate);
    if (distance <= limit && (!nearest || distance < nearest.distance))
      nearest = { name: candidate, distance };
  }
  return nearest?.name;
}

function unknownKeysMessage(keys: readonly string[], validKeys: readonly string[]): string {
  return keys
    .map((key) => {
      const nearest = nearestName(key, validKeys);
      return nearest
        ? `unknown key ${key}; did you mean ${nearest}?`
        : `unknown key ${key} (expected one of ${validKeys.join(', ')})`;
    })
    .join('; ');
}

/** A strict object whose unknown keys are reported with the nearest valid key. */
function strictObject<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  const validKeys = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? unknownKeysMessage(issue.keys, validKeys) : undefined,
  });
}

/** Object.prototype's members are not entries of a table indexed with untrusted keys. */
function withNullPrototype<T extends object>(record: T): T {
  return Object.assign(Object.create(null), record);
}

const DURATION_MESSAGE = 'expected a duration such as "30s", "15m", "24h", "7d" or a number of seconds';
const durationSchema = z
  .union([z.string(), z.number()], { error: DURATION_MESSAGE })
  .refine((v) => parseDuration(v) !== undefined, { message: DURATION_MESSAGE });

const usd = z.number().positive();

export const paramRuleSchema = strictObject({
  max: z.number().optional(),
  min: z.number().optional(),
  in: z
    .array(z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' }))
    .min(1)
    .optional(),
  prefix: z
    .union([z.string(), z.array(z.string()).min(1)], { error: 'expected a string or a list of strings' })
    .optional(),
  required: z.boolean().optional(),
}).refine((r) => r.max === undefined || r.min === undefined || r.min <= r.max, {
  message: 'min is greater than max',
});

const operationString = z.string().regex(OPERATION, {
  message: `expected "<METHOD> /path" with METHOD one of ${METHODS.join(', ')}, e.g. "POST /v1/refunds"`,
});

const allowEntrySchema = z.union(
  [
    operationString,
    z
      .record(operationString, z.record(z.string(), paramRuleSchema).nullable())
      .refine((r) => Object.keys(r).length === 1, {
        message: 'each allow entry names exactly one operation',
      }),
  ],
  { error: 'expected "METHOD /path", or a map of one "METHOD /path" to its param rules' },
);

type AllowEntry = z.infer<typeof allowEntrySchema>;

/** The operation an allow entry names (`POST /v1/refunds`). */
function operationOf(entry: AllowEntry): string {
  return typeof entry === 'string' ? entry : (Object.keys(entry)[0] as string);
}

/** The id of a vendor's operation (`stripe:POST /v1/refunds`): rule ids, approval rules and costs use it. */
function operationId(vendor: string, operation: string): string {
  return `${vendor}:${operation}`;
}

/** "`what` is not <where>", with the nearest allowed name and all of them. */
function notAllowedMessage(what: string, where: string, allowed: readonly string[]): string {
  const nearest = nearestName(what, allowed);
  const suggestion = nearest ? `; did you mean ${nearest}?` : '';
  return `${what} is not ${where}${suggestion} (allowed: ${allowed.join(', ') || 'none'})`;
}

export const vendorSectionSchema = strictObject({
  allow: z.array(allowEntrySchema),
  /** Vendor-specific prices in USD (e.g. per SMS segment by destination prefix). */
  prices: z.record(z.string(), z.number().nonnegative()).optional(),
  /** The USD cost of an allowed operation the vendor profile cannot price itself. */
  costs: z.record(operationString, z.number().nonnegative()).optional(),
  /**
   * The vendor accounts a call may act on besides your own (Stripe connected accounts named in
   * `Stripe-Account`, Twilio subaccount SIDs). Absent: any account. A call on another is denied.
   */
  accounts: z.array(z.string().min(1)).min(1).optional(),
}).superRefine((section, ctx) => {
  const allowed = section.allow.map(operationOf);
  for (const operation of Object.keys(section.costs ?? {})) {
    if (allowed.includes(operation)) continue;
    ctx.addIssue({
      code: 'custom',
      path: ['costs', operation],
      message: notAllowedMessage(operation, "in this vendor's allow list", allowed),
    });
  }
});

export const capsSchema = strictObject({
  perCall: usd.optional(),
  perRun: usd.optional(),
  perKey: usd.optional(),
  perHour: usd.optional(),
  perDay: usd.optional(),
});

const settingsShape = {
  caps: capsSchema.optional(),
  rate: strictObject({ perMinute: z.number().int().positive() }).optional(),
  dedupWindow: durationSchema.optional(),
  keyTtl: durationSchema.optional(),
  approval: strictObject({
    above: z.number().nonnegative().optional(),
    operations: z.array(z.string().min(1)).optional(),
    ttl: durationSchema.optional(),
  }).optional(),
  reconcileAfter: durationSchema.optional(),
  alerts: z.array(z.number().positive().max(100)).optional(),
  fx: z
    .record(z.string().regex(/^[a-z]{3}$/, { message: 'currency codes are 3 lowercase letters' }), usd)
    .optional(),
};
const SETTINGS: ReadonlySet<string> = new Set(Object.keys(settingsShape));

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * A policy's keys other than its settings are vendor names, so a misspelled setting (`cap:`)
 * would be checked as a vendor section and fail confusingly. A key close to a setting's name
 * whose value has no `allow` list is reported as an unknown key instead, and set aside.
 */
function setAsideMisspelledSettings(policy: unknown, ctx: z.RefinementCtx): unknown {
  if (!isPlainObject(policy)) return policy;
  const misspelled = Object.keys(policy).filter(
    (key) =>
      !SETTINGS.has(key) &&
      !(isPlainObject(policy[key]) && Object.hasOwn(policy[key], 'allow')) &&
      nearestName(key, SETTINGS) !== undefined,
  );
  if (misspelled.length === 0) return policy;
  const rest = { ...policy };
  for (const key of misspelled) {
    // An unknown key does not stop zod's pipe, so the rest of the policy is still checked.
    ctx.addIssue({
      code: 'unrecognized_keys',
      keys: [key],
      input: policy,
      message: unknownKeysMessage([key], [...SETTINGS]),
      continue: true,
    });
    delete rest[key];
  }
  return rest;
}

/** Approval rules name operations (`stripe:POST /v1/refunds`) this policy's allow lists permit. */
function checkApprovalOperations(policy: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const operations = (policy as PolicySettings).approval?.operations;
  if (!operations) return;
  const allowed: string[] = [];
  for (const [vendor, section] of Object.entries(policy)) {
    if (SETTINGS.has(vendor)) continue;
    for (const entry of (section as VendorSection).allow)
      allowed.push(operationId(vendor, operationOf(entry)));
  }
  operations.forEach((id, index) => {
    if (allowed.includes(id)) return;
    ctx.addIssue({
      code: 'custom',
      path: ['approval', 'operations', index],
      message: notAllowedMessage(id, 'an operation this policy allows', allowed),
    });
  });
}

/** One policy: the settings above, and any other key is a vendor name with its section. */
export const policySchema = z.preprocess(
  setAsideMisspelledSettings,
  z.object(settingsShape).catchall(vendorSectionSchema).superRefine(checkApprovalOperations),
);

export const credentialSourceSchema = z.union(
  [z.strictObject({ env: z.string().min(1) }), z.strictObject({ file: z.string().min(1) })],
  { error: 'expected { env: NAME } or { file: path }' },
);

/** Reports every key in BUILTIN_KEYS, at its path. */
function rejectBuiltinKeys(document: unknown, ctx: z.RefinementCtx): unknown {
  interface Visit {
    value: unknown;
    key: string | number | undefined;
    parent: Visit | undefined;
  }
  const pathOf = (visit: Visit): (string | number)[] => {
    const path: (string | number)[] = [];
    for (let at: Visit | undefined = visit; at?.key !== undefined; at = at.parent) path.unshift(at.key);
    return path;
  };
  // YAML aliases share objects, and an alias inside its own anchor makes a cycle.
  const seen = new WeakSet<object>();
  const visits: Visit[] = [{ value: document, key: undefined, parent: undefined }];
  for (let i = 0; i < visits.length; i++) {
    const visit = visits[i] as Visit;
    const { value } = visit;
    if (!(Array.isArray(value) || isPlainObject(value)) || seen.has(value)) continue;
    seen.add(value);
    for (const [key, child] of Object.entries(value)) {
      if (BUILTIN_KEYS.has(key)) {
        ctx.addIssue({
          code: 'custom',
          path: [...pathOf(visit), key],
          message: `${key} cannot be a key: it names a built-in property of JavaScript objects`,
        });
      } else {
        visits.push({ value: child, key: Array.isArray(value) ? Number(key) : key, parent: visit });
      }
    }
  }
  return document;
}

/** An MCP tool's operation: `vendor:METHOD /path`, `{name}` segments filled from its arguments. */
const MCP_OPERATION = /^[a-z][a-z0-9_-]{0,63}:(GET|POST|PUT|PATCH|DELETE) \/\S{0,2047}$/;
/** Where in a tool's arguments a value is: a name, or a dotted path (`order.payment`). */
const argumentPath = z.string().min(1).max(200);
const currencyCode = z.string().regex(/^[a-z]{3}$/, { message: 'currency codes are 3 lowercase letters' });

const COST_MESSAGE = 'expected { usd } or { amountArg, currency | currencyArg, unit? }';

/** A fixed USD price per call, or the amount read from the call's arguments. */
export const mcpToolCostSchema = z.union(
  [
    strictObject({ usd: z.number().nonnegative().finite() }),
    strictObject({
      amountArg: argumentPath,
      currency: currencyCode.optional(),
      currencyArg: argumentPath.optional(),
      unit: z.enum(['minor', 'major']).optional(),
    }).refine((c) => (c.currency === undefined) !== (c.currencyArg === undefined), {
      message: 'give exactly one of currency and currencyArg',
    }),
  ],
  { error: COST_MESSAGE },
);

/** One tool: `free` (reaches no vendor API, moves no money), or the operation it performs. */
export const mcpToolSchema = z.union(
  [
    // A string that is not "free" is told as such; an object is checked against the shape below.
    z.string().pipe(z.literal('free', { error: 'expected "free" or { operation, params?, cost? }' })),
    strictObject({
      operation: z.string().regex(MCP_OPERATION, {
        message: 'expected "vendor:METHOD /path", e.g. "stripe:POST /v1/refunds"',
      }),
      /** API param ← argument path. Default: the arguments as they are. */
      params: z.record(z.string().min(1).max(200), argumentPath).transform(withNullPrototype).optional(),
      cost: mcpToolCostSchema.optional(),
    }),
  ],
  { error: 'expected "free" or { operation, params?, cost? }' },
);

/**
 * `mcp:` — how the MCP gateway maps tools of servers it has no built-in map for (or overrides a
 * built-in mapping) onto vendor operations, so the policies' vendor sections, caps and approvals
 * govern them. Core only checks its shape; `@spendguard/mcp` reads it.
 */
export const mcpSectionSchema = strictObject({
  tools: z.record(z.string().min(1).max(128), mcpToolSchema).transform(withNullPrototype),
});

export const policyDocumentSchema = z.preprocess(
  rejectBuiltinKeys,
  strictObject({
    version: z.literal(1).optional(),
    policies: z.record(z.string().min(1), policySchema).transform(withNullPrototype),
    credentials: z.record(z.string().min(1), credentialSourceSchema).transform(withNullPrototype).optional(),
    mcp: mcpSectionSchema.optional(),
  }),
);

export type ParamRule = z.infer<typeof paramRuleSchema>;
export type Caps = z.infer<typeof capsSchema>;
export type VendorSection = z.infer<typeof vendorSectionSchema>;
/** The policy's `mcp:` section. */
export type McpSection = z.infer<typeof mcpSectionSchema>;
/** One tool of `mcp.tools`: `'free'`, or `{ operation, params?, cost? }`. */
export type McpTool = z.infer<typeof mcpToolSchema>;
export type McpToolCost = z.infer<typeof mcpToolCostSchema>;

/** The parts of a policy that are not vendor sections. */
export interface PolicySettings {
  /** USD caps: per call, per run (each derived run key), per key lifetime, per UTC hour, per UTC day. */
  caps?: Caps;
  rate?: { perMinute: number };
  /** How long a completed call is replayed instead of re-run. Default: `24h`. */
  dedupWindow?: Duration;
  /** Default time to live of keys issued under this policy. Default: none. */
  keyTtl?: Duration;
  /**
   * A human's yes first: for these operation ids, above this USD amount, or both. An approval
   * approves one call (its operation, params, account and cost), once, for `ttl` after it is
   * given. Default ttl: `1h`.
   */
  approval?: { above?: number; operations?: string[]; ttl?: Duration };
  /**
   * How old an unknown outcome may get before `guard.pending()` reports it as needing a person
   * to reconcile it (its reservation is kept until then). Default: `15m`.
   */
  reconcileAfter?: Duration;
  /** Alert thresholds in percent of each capped window. */
  alerts?: number[];
  /** USD per unit of each currency (lowercase code); `usd` is 1. */
  fx?: Record<string, number>;
}

/** One policy: its settings, and any other key is a vendor name with its allow list. */
export type PolicyInput = PolicySettings & {
  [vendor: string]: VendorSection | PolicySettings[keyof PolicySettings];
};

/** A policy document (`spendguard.yaml`), as written. */
export interface PolicyDocument {
  version?: 1;
  policies: Record<string, PolicyInput>;
  credentials?: Record<string, CredentialSource>;
  /** How the MCP gateway maps other servers' tools onto vendor operations. */
  mcp?: McpSection;
}

export type CredentialSource = z.infer<typeof credentialSourceSchema>;

/** One allowed operation, resolved: `id` is `vendor:METHOD /path/pattern`. */
export interface OperationRule {
  id: string;
  vendor: string;
  method: string;
  path: string;
  pattern: RegExp;
  params: readonly { path: string; rule: ParamRule }[];
}

/** A policy as the engine uses it, after defaults and any narrowing by derived keys. */
export interface ResolvedPolicy {
  name: string;
  rules: readonly OperationRule[];
  caps: Caps;
  ratePerMinute: number | undefined;
  dedupWindowMs: number;
  keyTtlMs: number | undefined;
  approval:
    | { aboveUsd: number | undefined; operations: readonly string[] | undefined; ttlMs: number }
    | undefined;
  /** Each vendor's allowed accounts (`accounts`), by vendor name; a vendor absent here allows any. */
  accounts: Readonly<Record<string, readonly string[]>>;
  reconcileAfterMs: number;
  alerts: readonly number[];
  /** USD per unit of each currency, lowercase codes; `usd` is always 1. */
  fx: Readonly<Record<string, number>>;
  /** Each vendor's `prices`, by vendor name. */
  prices: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** The USD cost the policy states for an operation, by rule id (`stripe:POST /v1/checkout/sessions`). */
  costs: Readonly<Record<string, number>>;
}

export const DEFAULT_DEDUP_WINDOW_MS = 24 * 3_600_000;
export const DEFAULT_APPROVAL_TTL_MS = 3_600_000;
export const DEFAULT_RECONCILE_AFTER_MS = 15 * 60_000;

/** `*` matches one path segment, `**` the rest of the path. */
export function pathPattern(path: string): RegExp {
  const escaped = path
    .split('/')
    .map((segment) =>
      segment === '**' ? '.*' : segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]+'),
    )
    .join('/');
  return new RegExp(`^${escaped}$`);
}

/**
 * Turn one validated policy of a document into the engine's form. Its tables (`fx`, `prices`,
 * `costs`) have no prototype, so a lookup by an untrusted key such as `constructor` finds nothing.
 */
export function resolvePolicy(name: string, input: PolicyInput): ResolvedPolicy {
  const rules: OperationRule[] = [];
  const prices: Record<string, Readonly<Record<string, number>>> = Object.create(null);
  const costs: Record<string, number> = Object.create(null);
  const accounts: Record<string, readonly string[]> = Object.create(null);
  for (const [key, value] of Object.entries(input)) {
    if (SETTINGS.has(key)) continue;
    const vendor = key;
    const section = value as VendorSection;
    if (section.prices) prices[vendor] = withNullPrototype(section.prices);
    if (section.accounts) accounts[vendor] = [...section.accounts];
    for (const entry of section.allow) {
      const operation = operationOf(entry);
      const params = typeof entry === 'string' ? null : entry[operation];
      const [, method, path] = OPERATION.exec(operation) as RegExpExecArray;
      rules.push({
        id: operationId(vendor, operation),
        vendor,
        method: method as string,
        path: path as string,
        pattern: pathPattern(path as string),
        params: Object.entries(params ?? {}).map(([p, rule]) => ({ path: p, rule })),
      });
    }
    for (const [operation, cost] of Object.entries(section.costs ?? {})) {
      costs[operationId(vendor, operation)] = cost;
    }
  }
  return {
    name,
    rules,
    caps: { ...input.caps },
    ratePerMinute: input.rate?.perMinute,
    dedupWindowMs:
      input.dedupWindow === undefined
        ? DEFAULT_DEDUP_WINDOW_MS
        : (parseDuration(input.dedupWindow) as number),
    keyTtlMs: input.keyTtl === undefined ? undefined : parseDuration(input.keyTtl),
    approval: input.approval && {
      aboveUsd: input.approval.above,
      operations: input.approval.operations,
      ttlMs:
        input.approval.ttl === undefined
          ? DEFAULT_APPROVAL_TTL_MS
          : (parseDuration(input.approval.ttl) as number),
    },
    accounts,
    reconcileAfterMs:
      input.reconcileAfter === undefined
        ? DEFAULT_RECONCILE_AFTER_MS
        : (parseDuration(input.reconcileAfter) as number),
    alerts: [...new Set(input.alerts ?? [])].sort((a, b) => a - b),
    fx: withNullPrototype({ ...input.fx, usd: 1 }),
    prices,
    costs,
  };
}

/** What a derived key may narrow. Every field may only be tighter than the parent's. */
export interface Narrowing {
  caps?: Caps;
  /** Operation ids (`stripe:POST /v1/refunds`) the derived key keeps; a subset of the parent's. */
  operations?: readonly string[];
  ratePerMinute?: number;
}

const CAP_NAMES = ['perCall', 'perRun', 'perKey', 'perHour', 'perDay'] as const;

/** The parent's policy narrowed for a derived key; refuses anything that would widen it. */
export function narrowPolicy(parent: ResolvedPolicy, narrowing: Narrowing): ResolvedPolicy {
  const caps: Caps = { ...parent.caps };
  for (const name of CAP_NAMES) {
    const wanted = narrowing.caps?.[name];
    if (wanted === undefined) continue;
    if (!(wanted > 0))
      throw new SpendguardError('narrowing_violation', `caps.${name} must be a positive USD amount`);
    const current = parent.caps[name];
    if (current !== undefined && wanted > current) {
      throw new SpendguardError(
        'narrowing_violation',
        `caps.${name} ${wanted} is above the parent key's ${current}: a derived key may only narrow`,
      );
    }
    caps[name] = wanted;
  }
  let rules = parent.rules;
  if (narrowing.operations) {
    const known = new Set(parent.rules.map((r) => r.id));
    for (const id of narrowing.operations) {
      if (!known.has(id)) {
        throw new SpendguardError(
          'narrowing_violation',
          `operation "${id}" is not allowed for the parent key (allowed: ${[...known].join(', ') || 'none'})`,
        );
      }
    }
    // Every parent rule of a kept operation stays: one operation may have several allow entries,
    // and all of their param rules apply.
    const kept = new Set(narrowing.operations);
    rules = parent.rules.filter((r) => kept.has(r.id));
  }
  let ratePerMinute = parent.ratePerMinute;
  if (narrowing.ratePerMinute !== undefined) {
    if (ratePerMinute !== undefined && narrowing.ratePerMinute > ratePerMinute) {
      throw new SpendguardError(
        'narrowing_violation',
        `rate.perMinute ${narrowing.ratePerMinute} is above the parent key's ${ratePerMinute}`,
      );
    }
    ratePerMinute = narrowing.ratePerMinute;
  }
  return { ...parent, caps, rules, ratePerMinute };
}
