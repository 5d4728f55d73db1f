import type { Money } from '@spendguard/core';

/**
 * What one MCP tool call does in the world, worked out from its name and arguments before
 * anything is called: the vendor operation it performs (so the policy's rules for that operation,
 * its caps and approvals govern it), nothing at all (a documentation search), or a call that
 * cannot be read safely (refused, naming why).
 */
export type ToolPlan =
  | { kind: 'free' }
  | { kind: 'operation'; operation: PlannedOperation; read: boolean; extra?: Record<string, unknown> }
  | { kind: 'invalid'; operation: PlannedOperation; message: string };

/** A vendor operation as the guard reads it: the same shape the proxy and the governed clients hand it. */
export interface PlannedOperation {
  vendor: string;
  method: string;
  /** The concrete path, ids filled in (`/v1/invoices/in_123/finalize`). */
  path: string;
  /** The operation's params in the vendor API's own names: what the policy's param rules check. */
  params: Record<string, unknown>;
  /** The vendor account the call acts on when not your own (Stripe's `stripe_context`). */
  account?: string;
  /** A cost the mapping worked out from the arguments; absent: the vendor profile prices it. */
  cost?: Money;
}

/**
 * What a tool could do, known from its name alone, for `tools/list`: a tool is listed only when
 * the key's policy allows something it could do.
 */
export type ToolShape =
  | { kind: 'free' }
  /** One endpoint; `path` may hold `{name}` segments filled from the arguments. */
  | { kind: 'endpoint'; vendor: string; method: string; path: string }
  /** A generic dispatcher (`stripe_api_write`): any endpoint of the vendor with one of these methods. */
  | { kind: 'dispatcher'; vendor: string; methods: readonly string[] };

/** How one tool's calls are read. */
export interface ToolMapping {
  shape: ToolShape;
  plan(args: Record<string, unknown>): ToolPlan;
}

/** The pseudo-vendor an unmapped tool's call is put to the policy as: `mcp POST /tools/<name>`. */
export const UNMAPPED_VENDOR = 'mcp';

/** Longest tool name read into a path (MCP's own limit is 128 characters). */
const MAX_TOOL_NAME = 128;

/**
 * The mapping of a tool nothing maps: its call is put to the policy as `mcp POST /tools/<name>`,
 * which no policy allows unless it says so (and states its cost under `mcp.costs`). So a tool
 * that could move money is refused, never guessed at, and the refusal is audited like any other.
 */
export function unmappedTool(name: string): ToolMapping {
  const path = `/tools/${encodeURIComponent(name.slice(0, MAX_TOOL_NAME))}`;
  const shape: ToolShape = { kind: 'endpoint', vendor: UNMAPPED_VENDOR, method: 'POST', path };
  return {
    shape,
    plan(args) {
      const operation = { vendor: UNMAPPED_VENDOR, method: 'POST', path, params: args };
      return name.length > MAX_TOOL_NAME
        ? { kind: 'invalid', operation, message: `the tool name is longer than ${MAX_TOOL_NAME} characters` }
        : { kind: 'operation', operation, read: false };
    },
  };
}

/** A vendor id as it may stand in a path: Stripe's ids and most others fit. */
const PATH_ID = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * A path template (`/v1/invoices/{invoice}/finalize`) filled from the arguments, and the
 * arguments left over (the params). An id that is missing or not a plain id is refused here,
 * before it could walk the path (`../`, `?`, `%2F`).
 */
export function fillPath(
  template: string,
  args: Record<string, unknown>,
): { path: string; params: Record<string, unknown> } | { invalid: string; path: string } {
  const params: Record<string, unknown> = Object.create(null);
  Object.assign(params, args);
  let problem: string | undefined;
  const path = template.replace(/\{([a-z_]+)\}/g, (_whole, name: string) => {
    const value = Object.hasOwn(args, name) ? args[name] : undefined;
    delete params[name];
    if (typeof value === 'string' && PATH_ID.test(value)) return value;
    problem ??=
      value === undefined
        ? `${name} is required (it names the object in the path)`
        : `${name} must be an id of letters, digits, _ and -, got ${shown(value)}`;
    return name;
  });
  return problem === undefined ? { path, params } : { invalid: problem, path };
}

/** A value as a refusal shows it: short, and never a structure's contents. */
export function shown(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'a list' : 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
