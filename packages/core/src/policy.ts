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
const RESERVED = new Set(['caps', 'rate', 'dedupWindow', 'keyTtl', 'approval', 'alerts', 'fx']);

const durationSchema = z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== undefined, {
  message: 'expected a duration such as "30s", "15m", "24h", "7d" or a number of seconds',
});

const usd = z.number().positive();

export const paramRuleSchema = z
  .strictObject({
    max: z.number().optional(),
    min: z.number().optional(),
    in: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .min(1)
      .optional(),
    prefix: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    required: z.boolean().optional(),
  })
  .refine((r) => r.max === undefined || r.min === undefined || r.min <= r.max, {
    message: 'min is greater than max',
  });

const operationString = z.string().regex(OPERATION, {
  message: `expected "<METHOD> /path" with METHOD one of ${METHODS.join(', ')}, e.g. "POST /v1/refunds"`,
});

const allowEntrySchema = z.union([
  operationString,
  z
    .record(operationString, z.record(z.string(), paramRuleSchema).nullable())
    .refine((r) => Object.keys(r).length === 1, {
      message: 'each allow entry names exactly one operation',
    }),
]);

export const vendorSectionSchema = z.strictObject({
  allow: z.array(allowEntrySchema),
  /** Vendor-specific prices in USD (e.g. per SMS segment by destination prefix). */
  prices: z.record(z.string(), z.number().nonnegative()).optional(),
});

export const capsSchema = z.strictObject({
  perCall: usd.optional(),
  perRun: usd.optional(),
  perKey: usd.optional(),
  perHour: usd.optional(),
  perDay: usd.optional(),
});

const policyBase = z.strictObject({
  caps: capsSchema.optional(),
  rate: z.strictObject({ perMinute: z.number().int().positive() }).optional(),
  dedupWindow: durationSchema.optional(),
  keyTtl: durationSchema.optional(),
  approval: z
    .strictObject({
      above: z.number().nonnegative().optional(),
      operations: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  alerts: z.array(z.number().positive().max(100)).optional(),
  fx: z
    .record(z.string().regex(/^[a-z]{3}$/, { message: 'currency codes are 3 lowercase letters' }), usd)
    .optional(),
});

/** One policy: the reserved keys above, and any other key is a vendor name with its section. */
export const policySchema = policyBase.catchall(vendorSectionSchema);

export const credentialSourceSchema = z.union([
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
]);

export const policyDocumentSchema = z.strictObject({
  version: z.literal(1).optional(),
  policies: z.record(z.string().min(1), policySchema),
  credentials: z.record(z.string().min(1), credentialSourceSchema).optional(),
});

export type ParamRule = z.infer<typeof paramRuleSchema>;
export type Caps = z.infer<typeof capsSchema>;
export type VendorSection = z.infer<typeof vendorSectionSchema>;

/** The parts of a policy that are not vendor sections. */
export interface PolicySettings {
  /** USD caps: per call, per run (each derived run key), per key lifetime, per UTC hour, per UTC day. */
  caps?: Caps;
  rate?: { perMinute: number };
  /** How long a completed call is replayed instead of re-run. Default: `24h`. */
  dedupWindow?: Duration;
  /** Default time to live of keys issued under this policy. Default: none. */
  keyTtl?: Duration;
  /** A human's yes first: for these operation ids, above this USD amount, or both. */
  approval?: { above?: number; operations?: string[] };
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
  approval: { aboveUsd: number | undefined; operations: readonly string[] | undefined } | undefined;
  alerts: readonly number[];
  /** USD per unit of each currency, lowercase codes; `usd` is always 1. */
  fx: Readonly<Record<string, number>>;
  prices: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export const DEFAULT_DEDUP_WINDOW_MS = 24 * 3_600_000;

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

/** Turn one validated policy of a document into the engine's form. */
export function resolvePolicy(name: string, input: PolicyInput): ResolvedPolicy {
  const rules: OperationRule[] = [];
  const prices: Record<string, Record<string, number>> = {};
  for (const [key, value] of Object.entries(input)) {
    if (RESERVED.has(key)) continue;
    const vendor = key;
    const section = value as VendorSection;
    if (section.prices) prices[vendor] = { ...section.prices };
    for (const entry of section.allow) {
      const [operation, params] =
        typeof entry === 'string' ? [entry, null] : (Object.entries(entry)[0] as [string, unknown]);
      const [, method, path] = OPERATION.exec(operation) as RegExpExecArray;
      rules.push({
        id: `${vendor}:${method} ${path}`,
        vendor,
        method: method as string,
        path: path as string,
        pattern: pathPattern(path as string),
        params: Object.entries((params ?? {}) as Record<string, ParamRule>).map(([p, rule]) => ({
          path: p,
          rule,
        })),
      });
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
    approval: input.approval && { aboveUsd: input.approval.above, operations: input.approval.operations },
    alerts: [...new Set(input.alerts ?? [])].sort((a, b) => a - b),
    fx: { ...input.fx, usd: 1 },
    prices,
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
    const known = new Map(parent.rules.map((r) => [r.id, r]));
    rules = narrowing.operations.map((id) => {
      const rule = known.get(id);
      if (!rule) {
        throw new SpendguardError(
          'narrowing_violation',
          `operation "${id}" is not allowed for the parent key (allowed: ${[...known.keys()].join(', ') || 'none'})`,
        );
      }
      return rule;
    });
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
