import type { Credentials } from '../credentials.ts';
import type { DenyCode } from '../decision.ts';
import { RequestInvalidError } from '../errors.ts';
import { type Money, operationName } from '../operation.ts';
import type { OperationRule, ResolvedPolicy } from '../policy.ts';
import { checkDeferred, checkOperation, microsToUsd, toUsdMicros, usdToMicros } from '../policy-check.ts';
import type { ExecuteRequest } from '../requests.ts';
import { toPlainData } from '../untrusted-input.ts';
import type { CostEstimate, VendorOperation, VendorProfile } from '../vendors/vendor-profile.ts';

/** A vendor call priced under its policy, or the refusal that stops it first. */
export type Priced =
  | {
      rules: readonly OperationRule[];
      profile: VendorProfile | undefined;
      cost: Money | undefined;
      costMicros: number;
    }
  | { code: DenyCode; message: string; cost?: Money | undefined };

/**
 * The policy check and the price of a vendor call: its allow rules and estimated cost (in its
 * currency and in USD micros), or why it is refused before anything is reserved. Nothing that
 * can't be priced — a garbled amount, an unknown write, a currency without a rate — gets a price.
 */
export async function priceCall(
  request: ExecuteRequest,
  policy: ResolvedPolicy,
  profile: VendorProfile | undefined,
  credentials: Credentials,
): Promise<Priced> {
  const verdict = checkOperation(policy, request);
  if (!verdict.ok) return { code: verdict.code, message: verdict.message };
  const method = request.method.toUpperCase();
  let cost = request.cost;
  let effective: Record<string, unknown> | undefined;
  if (!cost && profile) {
    const estimate = await estimateCall(profile, request, policy, credentials);
    if ('invalid' in estimate) return { code: 'amount_invalid', message: estimate.invalid };
    if ('unknown' in estimate) {
      const stated = estimate.unlisted ? statedCost(policy, verdict.rules) : undefined;
      if (stated === undefined) return { code: 'cost_unknown', message: estimate.unknown };
      cost = stated;
    } else {
      cost = estimate.cost;
      effective = estimate.effective;
    }
  } else if (!cost && method !== 'GET' && method !== 'HEAD') {
    // No profile knows this vendor: a write is priced only by a cost the policy states.
    cost = statedCost(policy, verdict.rules);
    if (!cost) {
      const message = `${request.vendor} ${operationName(request)} has no vendor profile to price it and policy "${policy.name}" states no cost for it (${request.vendor}.costs)`;
      return { code: 'cost_unknown', message };
    }
  }
  const deferred = checkDeferred(request, verdict.deferred, effective);
  if (deferred && !deferred.ok) return { code: deferred.code, message: deferred.message };
  if (cost && !isValidMoney(cost)) {
    return {
      code: 'amount_invalid',
      message: `the call's cost ${describeMoney(cost)} is not a finite, non-negative amount`,
    };
  }
  const costMicros = toUsdMicros(policy, cost);
  if (costMicros === undefined) {
    const currency = (cost?.currency ?? '').toUpperCase().slice(0, 12);
    const message = `no FX rate for ${currency} in policy "${policy.name}": the amount cannot be priced in USD`;
    return { code: 'currency_not_priced', message, cost };
  }
  if (!Number.isSafeInteger(costMicros) || costMicros < 0) {
    return {
      code: 'amount_invalid',
      message: `the call's cost ${describeMoney(cost)} is too large to price`,
    };
  }
  const perCall = policy.caps.perCall;
  if (perCall !== undefined && costMicros > usdToMicros(perCall)) {
    const message = `this call ($${microsToUsd(costMicros).toFixed(2)}) is above the per-call cap of $${perCall.toFixed(2)}`;
    return { code: 'cap_exceeded', message, cost };
  }
  return { rules: verdict.rules, profile, cost, costMicros };
}

/** The profile's estimate; a lookup reads with the real credential, and a failure is redacted. */
async function estimateCall(
  profile: VendorProfile,
  request: ExecuteRequest,
  policy: ResolvedPolicy,
  credentials: Credentials,
): Promise<CostEstimate> {
  try {
    const read = request.lookup;
    const lookup = read && ((path: string) => read(path, credentials.resolve(request.vendor)));
    return await profile.estimate(operationOf(request), { policy, ...(lookup && { lookup }) });
  } catch (error) {
    return {
      unknown: `the ${profile.vendor} call could not be priced: ${credentials.redact(String(error))}`,
    };
  }
}

/**
 * The USD micros a settlement reports, when it can be trusted: a garbled amount, or one in a
 * currency without a rate, gives undefined (the reservation stands), never NaN or a negative.
 */
export function settledMicros(policy: ResolvedPolicy, cost: Money | undefined): number | undefined {
  const micros = cost && isValidMoney(cost) ? toUsdMicros(policy, cost) : undefined;
  return micros !== undefined && Number.isSafeInteger(micros) && micros >= 0 ? micros : undefined;
}

/**
 * The request with its params as a plain copy (null-prototype, bounded, JSON data only), which is
 * all the pipeline reads from here on; or the sentence saying why they can't be decoded.
 */
export function plainRequest(request: ExecuteRequest): ExecuteRequest | string {
  try {
    return { ...request, params: toPlainData(request.params ?? {}, 'params') as Record<string, unknown> };
  } catch (error) {
    if (RequestInvalidError.isInstance(error)) return error.message;
    throw error;
  }
}

export function operationOf(request: ExecuteRequest): VendorOperation {
  return { method: request.method.toUpperCase(), path: request.path, params: request.params ?? {} };
}

/** An amount of money that can be priced: a finite, non-negative number in a named currency. */
export function isValidMoney(money: Money): boolean {
  return (
    typeof money.amount === 'number' &&
    Number.isFinite(money.amount) &&
    money.amount >= 0 &&
    typeof money.currency === 'string' &&
    money.currency.length > 0
  );
}

function describeMoney(money: Money | undefined): string {
  if (!money) return '(none)';
  const currency = typeof money.currency === 'string' ? money.currency.slice(0, 12) : typeof money.currency;
  return `${String(money.amount).slice(0, 24)} ${currency}`;
}

/**
 * The USD cost the policy states (`<vendor>.costs`) for an operation no profile prices; with
 * several matching rules, the highest.
 */
function statedCost(policy: ResolvedPolicy, rules: readonly OperationRule[]): Money | undefined {
  let usd: number | undefined;
  for (const rule of rules) {
    const stated = Object.hasOwn(policy.costs, rule.id) ? policy.costs[rule.id] : undefined;
    if (stated !== undefined && (usd === undefined || stated > usd)) usd = stated;
  }
  return usd === undefined ? undefined : { amount: usd, currency: 'usd' };
}
