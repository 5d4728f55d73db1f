import { SpendguardError } from '@spendguard/core';

/**
 * The error classes of @spendguard/mcp. Decisions about tool calls are never errors: they reach
 * the model as `isError` tool results. These are for a gateway that cannot start or serve.
 *
 * Check them with `isInstance`, not `instanceof`: like core's errors they carry `Symbol.for`
 * markers (core's own `spendguard.error` marker is inherited from SpendguardError), so an error
 * from one installed copy of this package is recognised by another.
 */
const MARKER = 'spendguard.error';

function mark(errorClass: { prototype: object }, subclass: string): void {
  Object.defineProperty(errorClass.prototype, Symbol.for(`${MARKER}.${subclass}`), { value: true });
}

function isMarked(value: unknown, subclass: string): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const marks = value as Record<symbol, unknown>;
  return marks[Symbol.for(MARKER)] === true && marks[Symbol.for(`${MARKER}.${subclass}`)] === true;
}

/** The upstream MCP server could not be started, reached or initialized. Nothing was called. */
export class UpstreamUnavailableError extends SpendguardError {
  static {
    mark(UpstreamUnavailableError, 'UpstreamUnavailableError');
  }

  constructor(message: string, options?: { cause?: unknown }) {
    super('vendor_error', message, options);
    this.name = 'UpstreamUnavailableError';
  }

  static override isInstance(value: unknown): value is UpstreamUnavailableError {
    return isMarked(value, 'UpstreamUnavailableError');
  }
}

/**
 * A gateway option or command-line argument that cannot work (no upstream, a key that is not a
 * vault key, a host that is not loopback). Thrown before anything is started.
 */
export class GatewayOptionsError extends SpendguardError {
  static {
    mark(GatewayOptionsError, 'GatewayOptionsError');
  }

  constructor(message: string, options?: { cause?: unknown }) {
    super('policy_invalid', message, options);
    this.name = 'GatewayOptionsError';
  }

  static override isInstance(value: unknown): value is GatewayOptionsError {
    return isMarked(value, 'GatewayOptionsError');
  }
}
