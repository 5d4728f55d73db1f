import { TOKEN_PREFIX } from '@spendguard/core';

/** A vault-key token (`sk_sg_` and hex): never shown anywhere, whoever echoes it. */
const VAULT_TOKEN = new RegExp(`${TOKEN_PREFIX}[0-9a-f]{16,}`, 'g');

/** Redact vendor secrets (the guard's `redact`) and vault-key tokens from a text. */
export function redactor(guardRedact: (text: string) => string): (text: string) => string {
  return (text) => guardRedact(text).replace(VAULT_TOKEN, '[redacted]');
}

/** A tool's own error as it is rethrown to Mastra (a workflow step retries on it): core's scrubbing. */
export { scrubbedError } from '@spendguard/core';
