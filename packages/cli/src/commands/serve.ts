import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../cli-error.ts';
import { ADMIN_TOKEN_ENV } from '../connect.ts';

interface ServeCommandOptions {
  config: string;
  store?: string;
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  admin: boolean;
  tlsCert?: string;
  tlsKey?: string;
  upstream?: string[];
}

/** `stripe=http://127.0.0.1:12111` pairs as the proxy's upstreams. */
function upstreamsOf(pairs: readonly string[] = []): Record<string, string> {
  const upstreams: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^(stripe|twilio|resend)=(https?:\/\/.+)$/.exec(pair);
    if (!match)
      throw new UsageError(`--upstream ${pair}: expected stripe|twilio|resend=http(s)://host[:port]`);
    upstreams[match[1] as string] = match[2] as string;
  }
  return upstreams;
}

/** The proxy and the admin API over one guard, until SIGINT or SIGTERM. */
export default async function serve(options: ServeCommandOptions) {
  const config = resolve(options.config);
  if (!existsSync(config))
    throw new UsageError(`no policy file at ${config}: run \`spendguard init\` or pass --config`);
  for (const [name, port] of [
    ['--port', options.port],
    ['--admin-port', options.adminPort],
  ] as const) {
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`${name} must be a port number`);
  }
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  if (options.admin && !process.env[ADMIN_TOKEN_ENV]) {
    throw new UsageError(`the admin API needs ${ADMIN_TOKEN_ENV} (24+ characters); or pass --no-admin`);
  }
  const [{ createGuard }, { openStore, serveProxy }, { serveAdmin }] = await Promise.all([
    import('@spendguard/core'),
    import('@spendguard/proxy'),
    import('@spendguard/admin'),
  ]);
  const upstreams = upstreamsOf(options.upstream);
  const tls =
    options.tlsCert && options.tlsKey ? { certFile: options.tlsCert, keyFile: options.tlsKey } : undefined;
  const store = await openStore(options.store ?? process.env.SPENDGUARD_STORE);
  const guard = createGuard({ policies: config, ...(store && { store }) });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const closers: (() => Promise<void>)[] = [];
  try {
    const proxy = await serveProxy({
      guard,
      host: options.host,
      port: options.port,
      upstreams,
      logger: log,
      ...(tls && { tls }),
    });
    closers.push(() => proxy.close());
    process.stderr.write(
      `spendguard proxy on ${proxy.url} (Stripe: ${proxy.url}/stripe, Twilio: ${proxy.url}/twilio, Resend: ${proxy.url}/resend)\n`,
    );
    if (options.admin) {
      const admin = await serveAdmin({
        guard,
        token: { env: ADMIN_TOKEN_ENV },
        host: options.adminHost,
        port: options.adminPort,
        logger: log,
        ...(tls && { tls }),
      });
      closers.unshift(() => admin.close());
      process.stderr.write(`spendguard admin API on ${admin.url}\n`);
    }
  } catch (error) {
    for (const close of closers) await close();
    await guard.close();
    throw error;
  }
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  for (const close of closers) await close();
  await guard.close();
  process.stderr.write('spendguard stopped\n');
}
