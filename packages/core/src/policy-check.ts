import { type Money, type Operation, operationName, readParam } from './operation.ts';
import type { OperationRule, ParamRule, ResolvedPolicy } from './policy.ts';

export type PolicyVerdict =
  | { ok: true; rule: OperationRule }
  | { ok: false; code: 'operation_not_allowed' | 'param_not_allowed'; message: string };

/** Find the allow rule for an operation and check its params. Anything not allowed is denied. */
export function checkOperation(policy: ResolvedPolicy, op: Operation): PolicyVerdict {
  const method = op.method.toUpperCase();
  const rule = policy.rules.find(
    (r) => r.vendor === op.vendor && r.method === method && r.pattern.test(op.path),
  );
  if (!rule) {
    return {
      ok: false,
      code: 'operation_not_allowed',
      message: `${op.vendor} ${operationName(op)} is not allowed by policy "${policy.name}"`,
    };
  }
  for (const { path, rule: paramRule } of rule.params) {
    const problem = checkParam(readParam(op.params, path), paramRule);
    if (problem) {
      return {
        ok: false,
        code: 'param_not_allowed',
        message: `${op.vendor} ${operationName(op)}: ${path} ${problem}`,
      };
    }
  }
  return { ok: true, rule };
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  return undefined;
}

/** A sentence saying what is wrong with one param, or undefined when it is legal. */
function checkParam(value: unknown, rule: ParamRule): string | undefined {
  const missing = value === undefined || value === null || value === '';
  if (missing) return rule.required ? 'is required' : undefined;
  if (rule.max !== undefined || rule.min !== undefined) {
    const n = asNumber(value);
    if (n === undefined) return `must be a number, got ${JSON.stringify(value)}`;
    if (rule.max !== undefined && n > rule.max) return `${n} is above the maximum ${rule.max}`;
    if (rule.min !== undefined && n < rule.min) return `${n} is below the minimum ${rule.min}`;
  }
  if (rule.in && !rule.in.some((allowed) => String(allowed) === String(value))) {
    return `${JSON.stringify(value)} is not one of ${rule.in.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if (rule.prefix !== undefined) {
    const prefixes = typeof rule.prefix === 'string' ? [rule.prefix] : rule.prefix;
    if (typeof value !== 'string' || !prefixes.some((p) => value.startsWith(p))) {
      return `${JSON.stringify(value)} does not start with ${prefixes.map((p) => JSON.stringify(p)).join(' or ')}`;
    }
  }
  return undefined;
}

/** 1 USD in the engine's integer unit. Caps are kept in micro-dollars so sums are exact. */
export const MICROS_PER_USD = 1_000_000;

export function usdToMicros(usd: number): number {
  return Math.round(usd * MICROS_PER_USD);
}

export function microsToUsd(micros: number): number {
  return micros / MICROS_PER_USD;
}

/** Convert an amount to USD micro-dollars with the policy's FX table; undefined when no rate is known. */
export function toUsdMicros(policy: ResolvedPolicy, money: Money | undefined): number | undefined {
  if (!money) return 0;
  const rate = policy.fx[money.currency.toLowerCase()];
  if (rate === undefined) return undefined;
  return Math.round(money.amount * rate * MICROS_PER_USD);
}

/** Whether the policy wants a human's yes before this call. */
export function needsApproval(policy: ResolvedPolicy, rule: OperationRule, costMicros: number): boolean {
  const approval = policy.approval;
  if (!approval) return false;
  const opMatches = approval.operations === undefined || approval.operations.some((o) => o === rule.id);
  const amountMatches = approval.aboveUsd === undefined || costMicros > usdToMicros(approval.aboveUsd);
  return opMatches && amountMatches;
}
