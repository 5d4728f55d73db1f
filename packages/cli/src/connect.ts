import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AdminClient } from './admin-client.ts';
import { UsageError } from './cli-error.ts';

/** Options every command that reads or changes state takes. */
export interface ConnectOptions {
  adminUrl?: string;
  store?: string;
  config?: string;
}

export const ADMIN_TOKEN_ENV = 'SPENDGUARD_ADMIN_TOKEN';

/**
 * The admin API the command talks to: a running server (`--admin-url`, or SPENDGUARD_ADMIN_URL,
 * with the token from SPENDGUARD_ADMIN_TOKEN), else the store itself (`--store`, or
 * SPENDGUARD_STORE, default SQLite under .spendguard/) through the same API in this process, with
 * the policy file (`--config`, default spendguard.yaml). Either way every command takes one path.
 */
export async function connect(options: ConnectOptions): Promise<AdminClient> {
  const adminUrl = options.adminUrl ?? process.env.SPENDGUARD_ADMIN_URL;
  if (adminUrl !== undefined && options.store === undefined) {
    const token = process.env[ADMIN_TOKEN_ENV];
    if (!token) throw new UsageError(`--admin-url needs the admin token in ${ADMIN_TOKEN_ENV}`);
    try {
      new URL(adminUrl);
    } catch {
      throw new UsageError(`--admin-url ${JSON.stringify(adminUrl)} is not a URL`);
    }
    return new AdminClient((request) => fetch(request), adminUrl, token);
  }
  const config = resolve(options.config ?? 'spendguard.yaml');
  if (!existsSync(config)) {
    throw new UsageError(
      `no policy file at ${config}: pass --config FILE, run \`spendguard init\`, or use --admin-url`,
    );
  }
  const [{ createGuard }, { openStore }, { createAdminApi }] = await Promise.all([
    import('@spendguard/core'),
    import('@spendguard/proxy'),
    import('@spendguard/admin'),
  ]);
  const store = await openStore(options.store ?? process.env.SPENDGUARD_STORE);
  const guard = createGuard({ policies: config, ...(store && { store }) });
  // In this process only: a fresh token the in-process API is given by reference, never printed.
  const env = `SPENDGUARD_CLI_TOKEN_${process.pid}`;
  const token = randomBytes(24).toString('hex');
  process.env[env] = token;
  const api = createAdminApi({ guard, token: { env } });
  delete process.env[env];
  return new AdminClient(
    (request) => api.fetch(request),
    'http://spendguard.local',
    token,
    () => guard.close(),
  );
}
