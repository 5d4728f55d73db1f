import { readFileSync } from 'node:fs';
import { SpendguardError } from './errors.ts';
import type { CredentialSource } from './policy.ts';
import { REDACTED, Redactor } from './redactor.ts';

/** A vault token (`sk_sg_` + 64 hex digits), wherever it appears. */
const VAULT_TOKEN = /sk_sg_[0-9a-fA-F]{64}/g;

/**
 * Resolves each vendor's real secret by reference, at call time (so a rotated secret is picked
 * up), and remembers every value it handed out so that results and messages can be scrubbed.
 */
export class Credentials {
  readonly #sources: Readonly<Record<string, CredentialSource>>;
  readonly #redactor = new Redactor();

  constructor(sources: Readonly<Record<string, CredentialSource>> = {}) {
    this.#sources = sources;
  }

  /** The vendor's secret. Errors name where it should come from, never a value. */
  resolve(vendor: string): string {
    const source = this.#sources[vendor];
    if (!source) {
      throw new SpendguardError('credential_missing', `no credential is configured for vendor "${vendor}"`);
    }
    let value: string | undefined;
    if ('env' in source) {
      value = process.env[source.env];
      if (!value) {
        throw new SpendguardError(
          'credential_missing',
          `the ${vendor} credential: environment variable ${source.env} is not set`,
        );
      }
    } else {
      try {
        value = readFileSync(source.file, 'utf8').trim();
      } catch (error) {
        throw new SpendguardError(
          'credential_missing',
          `the ${vendor} credential: cannot read file ${source.file}`,
          {
            cause: (error as NodeJS.ErrnoException).code,
          },
        );
      }
      if (!value)
        throw new SpendguardError(
          'credential_missing',
          `the ${vendor} credential: file ${source.file} is empty`,
        );
    }
    this.#redactor.add(value);
    return value;
  }

  /**
   * Replace every secret handed out so far with `[redacted]`, in every form a vendor might echo
   * it in (see `Redactor`), and every vault token as it is (a tool's error may quote its own run
   * key). Secrets shorter than 8 characters are left alone.
   */
  redact(text: string): string {
    return this.#redactor.redact(text).replace(VAULT_TOKEN, REDACTED);
  }
}
