import { readFileSync } from 'node:fs';
import { type CredentialSource, SpendguardError } from '@spendguard/core';

/**
 * A secret given by reference (`{ env: NAME }` or `{ file: path }`, as a policy's `credentials`
 * name them), read now. Errors name where it should come from, never a value. The upstream MCP
 * server's key is read this way, so it never sits in an MCP client's configuration.
 */
export function resolveCredential(source: CredentialSource, what: string): string {
  let value: string | undefined;
  if ('env' in source) {
    value = process.env[source.env];
    if (!value) {
      throw new SpendguardError(
        'credential_missing',
        `${what}: environment variable ${source.env} is not set`,
      );
    }
    return value;
  }
  try {
    value = readFileSync(source.file, 'utf8').trim();
  } catch (error) {
    throw new SpendguardError('credential_missing', `${what}: cannot read file ${source.file}`, {
      cause: (error as NodeJS.ErrnoException).code,
    });
  }
  if (!value) throw new SpendguardError('credential_missing', `${what}: file ${source.file} is empty`);
  return value;
}
