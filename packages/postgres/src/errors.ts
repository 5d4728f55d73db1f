import { Redactor, StoreUnavailableError } from '@spendguard/core';

/**
 * Core's redactor: the store gives it the URL and its password, and it hides them, in every form
 * a driver might echo them in, in anything we pass on.
 */
export { Redactor };

/** SQLSTATEs after which the whole transaction is safely retried: it was rolled back. */
const RETRYABLE = new Set(['40001', '40P01']);

/** SQLSTATE classes and node error codes meaning the connection, not the statement, failed. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown (pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isRetryable(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && RETRYABLE.has(code);
}

/** The connection broke (or never opened): the statement may not have reached the server. */
export function isConnectionError(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout|Connection ended/i.test(
    message,
  );
}

/** Every failure leaves the store as a StoreUnavailableError with a redacted message. */
export function storeError(
  error: unknown,
  where: string,
  redactor: Redactor,
  hint = '',
): StoreUnavailableError {
  if (StoreUnavailableError.isInstance(error)) return error;
  const code = codeOf(error);
  const raw = error instanceof Error ? error.message : String(error);
  let extra = hint;
  if (code === '42P01' || code === '3F000') extra = ' (run `await store.migrate()` to create the schema)';
  // A step function or a column of a newer schema version than the database has (42883:
  // undefined_function, 42703: undefined_column).
  if (code === '42883' || code === '42703') extra = ' (run `await store.migrate()` to upgrade the schema)';
  const text = `postgres store (${where}): ${raw}${code ? ` [${code}]` : ''}${extra}`;
  const message = redactor.redact(text);
  // An error that carried a secret is not kept as the cause: it would be logged with it.
  return new StoreUnavailableError(message, message === text ? { cause: error } : {});
}
