import { inspect } from 'node:util';

/**
 * An error as it was thrown, unless anything it would show when logged or serialized (message,
 * stack, causes, fields) carries a secret, as the errors of some HTTP clients do with the
 * request's headers. Then a plain copy with the same name and code, so a caller still reads it as
 * the same failure, a redacted message and stack, and no cause: it would be logged with the secret.
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

/** All an error would show when logged or serialized: its inspection (causes included) and its JSON. */
function errorText(error: unknown): string {
  let json = '';
  try {
    json = JSON.stringify(error) ?? '';
  } catch {
    // circular: the inspection still shows every field
  }
  return `${inspect(error, { depth: 6 })}\n${json}`;
}
