import { inspect } from 'node:util';
import { TOKEN_PREFIX } from '@spendguard/core';

/** A vault-key token (`sk_sg_` and hex): never shown anywhere, whoever echoes it. */
const VAULT_TOKEN = new RegExp(`${TOKEN_PREFIX}[0-9a-f]{16,}`, 'g');

/** Redact vendor secrets (the guard's `redact`) and vault-key tokens from a text. */
export function redactor(guardRedact: (text: string) => string): (text: string) => string {
  return (text) => guardRedact(text).replace(VAULT_TOKEN, '[redacted]');
}

/**
 * A tool's own error as it is rethrown to Mastra (a workflow step retries on it, and the run's
 * result shows its message): the error itself, unless anything it would show when logged or
 * serialized carries a secret. Then a plain copy with the same name and code, a redacted message
 * and stack, and no cause.
 */
export function scrubbedError(error: unknown, redact: (text: string) => string): unknown {
  const text = errorText(error);
  if (redact(text) === text) return error;
  const { name, message, stack, code } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
    stack?: unknown;
    code?: unknown;
  };
  const copy = new Error(redact(typeof message === 'string' ? message : String(error))) as Error & {
    code?: unknown;
  };
  if (typeof name === 'string') copy.name = name;
  copy.stack = typeof stack === 'string' ? redact(stack) : `${copy.name}: ${copy.message}`;
  if (typeof code === 'string' || typeof code === 'number') copy.code = code;
  return copy;
}

function errorText(error: unknown): string {
  let json = '';
  try {
    json = JSON.stringify(error) ?? '';
  } catch {
    // circular: the inspection still shows every field
  }
  return `${inspect(error, { depth: 6 })}\n${json}`;
}
