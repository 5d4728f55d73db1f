import { type Money, type Operation, operationName, readParam } from './operation.ts';
import type { OperationRule, ParamRule, ResolvedPolicy } from './policy.ts';

export type PolicyVerdict =
  | {
      ok: true;
      /** Every allow rule the call matches; all of their param rules and approval settings apply. */
      rules: readonly OperationRule[];
      /**
       * Params the call leaves out that a `max`/`min` rule constrains: the rule applies to the
       * value the vendor will use, which the vendor profile works out before the call.
       */
      deferred: readonly DeferredParam[];
    }
  | {
      ok: false;
      code: 'operation_not_allowed' | 'account_not_allowed' | 'param_not_allowed';
      message: string;
    };

export interface DeferredParam {
  path: string;
  rule: ParamRule;
}

/**
 * A path in the form vendors write it: `/`-separated segments of unreserved characters, no empty,
 * `.` or `..` segment, no percent-encoding, no trailing slash. Only such a path may match a
 * wildcard rule; any other must match a rule's path exactly as written.
 */
const CANONICAL_PATH = /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._~:@!$&'()*+,;=-]+)+$/;

export function isCanonicalPath(path: string): boolean {
  return path.length <= 2048 && CANONICAL_PATH.test(path);
}

/**
 * Find every allow rule that matches an operation and check its params against all of them (the
 * strictest wins: a broad rule listed first cannot switch off a narrower one). Anything not
 * allowed is denied.
 */
export function checkOperation(policy: ResolvedPolicy, op: Operation): PolicyVerdict {
  const method = op.method.toUpperCase();
  const canonical = isCanonicalPath(op.path);
  const rules = policy.rules.filter(
    (r) =>
      r.vendor === op.vendor &&
      r.method === method &&
      (canonical ? r.pattern.test(op.path) : !r.path.includes('*') && r.path === op.path),
  );
  if (rules.length === 0) {
    return {
      ok: false,
      code: 'operation_not_allowed',
      message: `${op.vendor} ${operationName({ method, path: shownPath(op.path) })} is not allowed by policy "${policy.name}"${canonical ? '' : ' (the path is not in canonical form)'}`,
    };
  }
  const accounts = Object.hasOwn(policy.accounts, op.vendor) ? policy.accounts[op.vendor] : undefined;
  if (op.account !== undefined && accounts !== undefined && !accounts.includes(op.account)) {
    const account = op.account.length > 64 ? `${op.account.slice(0, 64)}…` : op.account;
    return {
      ok: false,
      code: 'account_not_allowed',
      message: `${op.vendor} account ${JSON.stringify(account)} is not one of the accounts policy "${policy.name}" allows (${op.vendor}.accounts)`,
    };
  }
  const deferred: DeferredParam[] = [];
  for (const rule of rules) {
    for (const { path, rule: paramRule } of rule.params) {
      const value = readParam(op.params, path);
      if (
        isMissing(value) &&
        !paramRule.required &&
        (paramRule.max !== undefined || paramRule.min !== undefined)
      ) {
        deferred.push({ path, rule: paramRule });
        continue;
      }
      const problem = checkParam(value, paramRule);
      if (problem) return paramDenied(op, path, problem);
    }
  }
  return { ok: true, rules, deferred };
}

/**
 * Check deferred params against the values the vendor will use (`effective`, from the vendor
 * profile). A param whose effective value can't be known is denied: the policy needs it sent.
 */
export function checkDeferred(
  op: Operation,
  deferred: readonly DeferredParam[],
  effective: Record<string, unknown> | undefined,
): PolicyVerdict | undefined {
  for (const { path, rule } of deferred) {
    const value = effective === undefined ? undefined : readParam(effective, path);
    if (isMissing(value)) {
      return paramDenied(
        op,
        path,
        `is limited by the policy but not given, and the value the vendor would use can't be known before the call; send ${path} explicitly`,
      );
    }
    const problem = checkParam(value, rule);
    if (problem)
      return paramDenied(op, path, `${problem} (the value the vendor would use, as ${path} was not given)`);
  }
  return undefined;
}

function paramDenied(op: Operation, path: string, problem: string): PolicyVerdict {
  return {
    ok: false,
    code: 'param_not_allowed',
    message: `${op.vendor} ${operationName({ method: op.method, path: shownPath(op.path) })}: ${path} ${problem}`,
  };
}

function shownPath(path: string): string {
  return path.length > 120 ? `${path.slice(0, 120)}…` : path;
}

function isMissing(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  return undefined;
}

/** A sentence saying what is wrong with one param, or undefined when it is legal. */
function checkParam(value: unknown, rule: ParamRule): string | undefined {
  if (isMissing(value)) return rule.required ? 'is required' : undefined;
  if (rule.max !== undefined || rule.min !== undefined) {
    const n = asNumber(value);
    if (n === undefined) return `must be a number, got ${shownValue(value)}`;
    if (rule.max !== undefined && n > rule.max) return `${n} is above the maximum ${rule.max}`;
    if (rule.min !== undefined && n < rule.min) return `${n} is below the minimum ${rule.min}`;
  }
  if (rule.in && !rule.in.some((allowed) => typeof value !== 'object' && String(allowed) === String(value))) {
    return `${shownValue(value)} is not one of ${rule.in.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if (rule.prefix !== undefined) {
    const prefixes = typeof rule.prefix === 'string' ? [rule.prefix] : rule.prefix;
    if (typeof value !== 'string' || !prefixes.some((p) => value.startsWith(p))) {
      return `${shownValue(value)} does not start with ${prefixes.map((p) => JSON.stringify(p)).join(' or ')}`;
    }
  }
  return undefined;
}

/** A value as a denial shows it: short, and never a structure's contents. */
function shownValue(value: unknown): string {
  if (typeof value === 'object') return Array.isArray(value) ? 'a list' : 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** 1 USD in the engine's integer unit. Caps are kept in micro-dollars so sums are exact. */
export const MICROS_PER_USD = 1_000_000;

export function usdToMicros(usd: number): number {
  return Math.round(usd * MICROS_PER_USD);
}

export function microsToUsd(micros: number): number {
  return micros / MICROS_PER_USD;
}

/**
 * Convert an amount to USD micro-dollars with the policy's FX table; undefined when the table has
 * no usable rate for the currency. The currency is untrusted: only the table's own entries count.
 * The caller checks the amount is finite and non-negative first.
 */
export function toUsdMicros(policy: ResolvedPolicy, money: Money | undefined): number | undefined {
  if (!money) return 0;
  const code = money.currency.toLowerCase();
  const rate = Object.hasOwn(policy.fx, code) ? policy.fx[code] : undefined;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) return undefined;
  return Math.round(money.amount * rate * MICROS_PER_USD);
}

/** Whether the policy wants a human's yes before this call: any matching rule may ask for it. */
export function needsApproval(
  policy: ResolvedPolicy,
  rules: readonly OperationRule[],
  costMicros: number,
): boolean {
  const approval = policy.approval;
  if (!approval) return false;
  const opMatches =
    approval.operations === undefined || rules.some((rule) => approval.operations?.includes(rule.id));
  const amountMatches = approval.aboveUsd === undefined || costMicros > usdToMicros(approval.aboveUsd);
  return opMatches && amountMatches;
}
