import { RequestInvalidError } from './errors.ts';

/**
 * Bounds on what spendguard decodes from a request or a tool input. Everything an agent sends is
 * untrusted: a body past these bounds is refused with `request_invalid` before any policy work,
 * so decoding time stays linear in the body's size and no value is huge.
 */
export const INPUT_LIMITS = {
  /** Largest request body decoded, in bytes (1 MiB). */
  maxBodyBytes: 1_048_576,
  /** Most params in one form-encoded body or query string. */
  maxParams: 1_000,
  /** Deepest nesting of a decoded value (bracket levels of a form param, or JSON depth). */
  maxDepth: 16,
  /** Most items in one array: a form bracket index may be 0–99, a JSON array up to 1,000 long. */
  maxFormArrayItems: 100,
  maxJsonArrayItems: 1_000,
} as const;

/** Names that reach an object's prototype when used as a key. Never accepted from input. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function isReservedKey(key: string): boolean {
  return RESERVED_KEYS.has(key);
}

/**
 * A deep copy of an untrusted value as plain JSON data: objects become null-prototype objects,
 * arrays stay arrays, strings, booleans, null and finite numbers stay as they are. Throws
 * RequestInvalidError naming the path of the first thing that is not plain JSON (a Map, Date,
 * BigInt, class instance, function, non-finite number), a reserved key, or a bound passed.
 */
export function toPlainData(value: unknown, path = 'params'): unknown {
  return copy(value, path, 0);
}

function copy(value: unknown, path: string, depth: number): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RequestInvalidError(`${path} is not a finite number`, path);
    return value;
  }
  if (typeof value !== 'object') {
    throw new RequestInvalidError(`${path} is a ${typeof value}, which is not JSON data`, path);
  }
  if (depth >= INPUT_LIMITS.maxDepth) {
    throw new RequestInvalidError(
      `${path} is nested deeper than ${INPUT_LIMITS.maxDepth} levels, the most spendguard decodes`,
      path,
    );
  }
  if (Array.isArray(value)) {
    if (value.length > INPUT_LIMITS.maxJsonArrayItems) {
      throw new RequestInvalidError(
        `${path} has ${value.length} items, more than the ${INPUT_LIMITS.maxJsonArrayItems} spendguard decodes`,
        path,
      );
    }
    const items: unknown[] = [];
    for (let i = 0; i < value.length; i++) items.push(copy(value[i], `${path}[${i}]`, depth + 1));
    return items;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const kind = (value as { constructor?: { name?: unknown } }).constructor?.name;
    throw new RequestInvalidError(
      `${path} is a ${typeof kind === 'string' && kind ? kind : 'non-plain object'}, which is not JSON data`,
      path,
    );
  }
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(record)) {
    const member = `${path}.${key}`;
    if (isReservedKey(key))
      throw new RequestInvalidError(`${member} uses the reserved name "${key}"`, member);
    const item = record[key];
    if (item === undefined) continue; // as JSON drops it
    out[key] = copy(item, member, depth + 1);
  }
  return out;
}

/** Parse a JSON request body under the bounds; objects come back null-prototype. */
export function decodeJsonParams(body: string): Record<string, unknown> | unknown[] {
  checkBodySize(body);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body || '{}');
  } catch (error) {
    throw new RequestInvalidError(`the request body is not valid JSON: ${(error as Error).message}`);
  }
  const data = toPlainData(parsed, 'body');
  if (data === null || typeof data !== 'object') {
    throw new RequestInvalidError('the request body must be a JSON object or array');
  }
  return data as Record<string, unknown> | unknown[];
}

export function checkBodySize(body: string): void {
  // A UTF-8 byte is at least one UTF-16 unit and at most three per unit: check cheaply first.
  if (body.length * 3 <= INPUT_LIMITS.maxBodyBytes) return;
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > INPUT_LIMITS.maxBodyBytes) {
    throw new RequestInvalidError(
      `the request body is ${bytes} bytes, more than the ${INPUT_LIMITS.maxBodyBytes} spendguard decodes`,
    );
  }
}
