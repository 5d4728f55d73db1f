import type { FormParams } from '../form.ts';
import { StripeRequestError } from './stripe-errors.ts';

// Readers for form parameters as Stripe validates them. Every value arrives as a string
// (stripe-node sends `amount=2000`); an empty string means "not set", as it does at Stripe.

export function missing(name: string): StripeRequestError {
  return new StripeRequestError(`Missing required param: ${name}.`, {
    param: name,
    code: 'parameter_missing',
  });
}

export function optString(params: FormParams, name: string): string | undefined {
  const value = params[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new StripeRequestError(`Invalid string: ${name}`, { param: name });
  return value;
}

export function optAmount(params: FormParams, name: string): number | undefined {
  const value = optString(params, name);
  if (value === undefined) return undefined;
  const amount = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(amount)) {
    throw new StripeRequestError(`Invalid integer: ${value}`, {
      param: name,
      code: 'parameter_invalid_integer',
    });
  }
  if (amount < 1) {
    throw new StripeRequestError(`${name} must be at least 1 (in the currency's smallest unit).`, {
      param: name,
      code: 'amount_too_small',
    });
  }
  return amount;
}

export function requireAmount(params: FormParams, name = 'amount'): number {
  const amount = optAmount(params, name);
  if (amount === undefined) throw missing(name);
  return amount;
}

/** A three-letter ISO code, lowercased as Stripe returns it. */
export function requireCurrency(params: FormParams): string {
  const value = optString(params, 'currency');
  if (value === undefined) throw missing('currency');
  if (!/^[a-zA-Z]{3}$/.test(value)) {
    throw new StripeRequestError(`Invalid currency: ${value}.`, { param: 'currency' });
  }
  return value.toLowerCase();
}

export function optBool(params: FormParams, name: string): boolean | undefined {
  const value = optString(params, name);
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new StripeRequestError(`Invalid boolean: ${value}`, { param: name });
}

export function optEnum<T extends string>(
  params: FormParams,
  name: string,
  values: readonly T[],
): T | undefined {
  const value = optString(params, name);
  if (value === undefined) return undefined;
  if (!(values as readonly string[]).includes(value)) {
    throw new StripeRequestError(`Invalid ${name}: must be one of ${values.join(', ')}`, { param: name });
  }
  return value as T;
}

export function readMetadata(params: FormParams): Record<string, string> {
  const value = params.metadata;
  if (value === undefined || value === '') return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new StripeRequestError('Invalid object', { param: 'metadata' });
  }
  const metadata: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new StripeRequestError('Invalid object', { param: `metadata[${key}]` });
    if (v !== '') metadata[key] = v;
  }
  return metadata;
}

/** The `expand[]` paths of a request, e.g. `['latest_charge', 'customer']`. */
export function expandPaths(params: FormParams): string[] {
  const value = params.expand;
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : typeof value === 'object' ? Object.values(value) : [value];
  return list.filter((v): v is string => typeof v === 'string');
}
