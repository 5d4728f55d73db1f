import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SpendguardError } from '@spendguard/core';

/** Where the admin token comes from: an environment variable or a file, never a literal in config. */
export type AdminTokenSource = { env: string } | { file: string };

/** Shorter tokens are refused at start: an admin token guards every key and every approval. */
export const ADMIN_TOKEN_MIN_LENGTH = 24;

/**
 * The admin token, resolved once by reference and kept only as its SHA-256 digest, so a request's
 * token is compared in constant time whatever its length.
 */
export class AdminToken {
  readonly #digest: Buffer;

  private constructor(token: string) {
    this.#digest = digest(token);
  }

  /** Read the token; errors name where it should come from, never a value. */
  static resolve(source: AdminTokenSource): AdminToken {
    const where = 'env' in source ? `environment variable ${source.env}` : `file ${source.file}`;
    let value: string | undefined;
    if ('env' in source) value = process.env[source.env];
    else {
      try {
        value = readFileSync(source.file, 'utf8').trim();
      } catch (error) {
        throw new SpendguardError('credential_missing', `the admin token: cannot read ${where}`, {
          cause: (error as NodeJS.ErrnoException).code,
        });
      }
    }
    if (!value) throw new SpendguardError('credential_missing', `the admin token: ${where} is not set`);
    if (value.length < ADMIN_TOKEN_MIN_LENGTH) {
      throw new SpendguardError(
        'credential_missing',
        `the admin token in ${where} is shorter than ${ADMIN_TOKEN_MIN_LENGTH} characters`,
      );
    }
    return new AdminToken(value);
  }

  /** Whether an `Authorization` header carries this token as a Bearer token. */
  accepts(authorization: string | null): boolean {
    const match = authorization === null ? null : /^Bearer (\S+)$/i.exec(authorization.trim());
    // Compared even when absent, so a missing header takes as long as a wrong one.
    const presented = digest(match?.[1] ?? '');
    return timingSafeEqual(presented, this.#digest) && match !== null;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
