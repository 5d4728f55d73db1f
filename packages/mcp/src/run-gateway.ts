import { dirname, join, resolve } from 'node:path';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createGuard, type Guard, loadPolicyFile, SqliteStore, type Store } from '@spendguard/core';
import { GatewayOptionsError } from './errors.ts';
import { createMcpGateway, type McpGateway, type McpGatewayOptions } from './gateway.ts';
import { MCP_PROFILES } from './mcp-stripe-profile.ts';
import { toolMapOf } from './tool-map.ts';
import type { BuiltInMap } from './tool-mappings.ts';
import type { UpstreamSpec } from './upstream.ts';

export interface RunMcpGatewayOptions {
  /** The policy file (YAML or JSON). Default: `spendguard.yaml` in the working directory. */
  config?: string;
  /**
   * Where state lives: `sqlite:<file>`, `redis://…`, `postgres://…` (as `spendguard serve`).
   * Default: SQLite in `.spendguard/spendguard.db` beside the policy file — an MCP client starts
   * the gateway in a working directory of its own choosing.
   */
  store?: string;
  /** The real MCP server: a command to start (`['npx', '-y', '@stripe/mcp']`) or a Streamable HTTP URL. */
  upstream: { command: string; args?: readonly string[] } | { url: string };
  /**
   * Which built-in map reads the upstream's tools. Default: `'stripe'`. The policy's `mcp.tools`
   * section maps any other tool (and wins over the built-in map).
   */
  builtIn?: BuiltInMap;
  /**
   * The policy's credential (a name under `credentials:`) the upstream gets: put into the child's
   * environment as `credentialEnv`, or sent to a URL as a Bearer token. Default: `stripe` when
   * the policy names one, else none.
   */
  credential?: string;
  /** The child's environment variable that receives the credential. Default: `STRIPE_SECRET_KEY`. */
  credentialEnv?: string;
  /** More of this process's environment variables passed to the child (not secrets). Default: none. */
  passEnv?: readonly string[];
  /** Serve Streamable HTTP on loopback instead of stdio. Default: stdio. */
  http?: { port?: number; host?: string };
  /** The vault key of a stdio client. Default: the environment variable `keyEnv`. */
  key?: string;
  /** Where a stdio client's vault key is read from. Default: `SPENDGUARD_KEY`. */
  keyEnv?: string;
  /** Receives one JSON line per tool call. Default: standard error (stdout carries the protocol). */
  logger?: (line: string) => void;
  /** The rest of the gateway's options (run id, elicitation, timeouts, lookup origins). */
  gateway?: Omit<McpGatewayOptions, 'guard' | 'upstream' | 'tools' | 'builtIn' | 'logger'>;
}

export interface RunningGateway {
  /** The HTTP origin, when serving Streamable HTTP (the endpoint is `${url}/mcp`). */
  readonly url: string | undefined;
  /** Settles once the gateway has stopped (stdio: the client closed the session). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/**
 * The whole gateway from a policy file (`spendguard mcp`, `spendguard-mcp`): opens the store,
 * builds the guard (with the MCP pricing profiles), and serves the gateway over stdio to one
 * client holding a vault key in its environment, or over Streamable HTTP on loopback to clients
 * holding one as a Bearer token.
 */
export async function runMcpGateway(options: RunMcpGatewayOptions): Promise<RunningGateway> {
  const config = resolve(options.config ?? 'spendguard.yaml');
  const document = loadPolicyFile(config);
  const tools = toolMapOf(document.mcp);
  const upstream = upstreamSpec(options, document.credentials ?? {});
  const key = options.http ? undefined : stdioKey(options);
  const store = await openStoreSpec(
    options.store ?? `sqlite:${join(dirname(config), '.spendguard', 'spendguard.db')}`,
  );
  let guard: Guard;
  try {
    guard = createGuard({ policies: document, ...(store && { store }), profiles: MCP_PROFILES });
  } catch (error) {
    await store?.close();
    throw error;
  }
  const logger = options.logger ?? ((line: string) => process.stderr.write(`${line}\n`));
  const gateway = createMcpGateway({
    ...options.gateway,
    guard,
    upstream,
    ...(tools && { tools }),
    ...(options.builtIn && { builtIn: options.builtIn }),
    logger,
  });
  try {
    return key === undefined
      ? await serveOverHttp(gateway, guard, options.http ?? {})
      : await serveOverStdio(gateway, guard, key);
  } catch (error) {
    await gateway.close();
    await guard.close();
    throw error;
  }
}

async function serveOverStdio(gateway: McpGateway, guard: Guard, key: string): Promise<RunningGateway> {
  const session = await gateway.connect(
    new StdioServerTransport(process.stdin, process.stdout, { maxBufferSize: 4 * 1024 * 1024 }),
    {
      key,
    },
  );
  // The client closing our stdin ends the session (the SDK's transport does not watch for it).
  process.stdin.once('end', () => void session.close());
  const closed = session.closed.then(() => guard.close());
  return {
    url: undefined,
    closed,
    async close() {
      await session.close();
      await closed;
    },
  };
}

async function serveOverHttp(
  gateway: McpGateway,
  guard: Guard,
  http: NonNullable<RunMcpGatewayOptions['http']>,
): Promise<RunningGateway> {
  // Loaded only when serving HTTP: a stdio gateway starts on every MCP client launch.
  const [{ createMcpHttpHandler }, { serveHttp }] = await Promise.all([
    import('./http-handler.ts'),
    import('./serve-http.ts'),
  ]);
  const handler = createMcpHttpHandler({ gateway, guard });
  const served = await serveHttp(handler, http);
  let stop: (() => void) | undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const closed = stopped.then(async () => {
    await served.close();
    await handler.close();
    await guard.close();
  });
  return {
    url: served.url,
    closed,
    async close() {
      stop?.();
      await closed;
    },
  };
}

/**
 * The store a `store` string names, as `spendguard serve` reads it. SQLite is opened here; the
 * proxy's `openStore` (and with it the Redis and Postgres drivers) loads only for the others, so
 * an MCP client does not wait for them on every start.
 */
async function openStoreSpec(spec: string): Promise<Store | undefined> {
  if (spec.startsWith('sqlite:')) return new SqliteStore({ file: spec.slice('sqlite:'.length) });
  const { openStore } = await import('@spendguard/proxy');
  return openStore(spec);
}

function stdioKey(options: RunMcpGatewayOptions): string {
  const name = options.keyEnv ?? 'SPENDGUARD_KEY';
  const key = options.key ?? process.env[name];
  if (!key) {
    throw new GatewayOptionsError(
      `no vault key: set ${name} to the client's spendguard vault key (sk_sg_…) in the MCP client's configuration ("env")`,
    );
  }
  return key;
}

function upstreamSpec(
  options: RunMcpGatewayOptions,
  credentials: NonNullable<ReturnType<typeof loadPolicyFile>['credentials']>,
): UpstreamSpec {
  const name = options.credential ?? (Object.hasOwn(credentials, 'stripe') ? 'stripe' : undefined);
  if (name !== undefined && !Object.hasOwn(credentials, name)) {
    throw new GatewayOptionsError(
      `the policy names no credential "${name}" (credentials: ${Object.keys(credentials).join(', ') || 'none'})`,
    );
  }
  const source = name === undefined ? undefined : credentials[name];
  const up = options.upstream;
  if ('url' in up) {
    const url = new URL(up.url);
    if (url.protocol !== 'https:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
      throw new GatewayOptionsError(
        'the upstream URL must be https (or http on loopback): its key is sent to it',
      );
    }
    return { url: url.href, ...(source && { credential: source }) };
  }
  if (!up.command) throw new GatewayOptionsError('no upstream: give a command after -- or --upstream-url');
  const env: Record<string, string> = {};
  for (const variable of options.passEnv ?? []) {
    const value = process.env[variable];
    if (value !== undefined) env[variable] = value;
  }
  return {
    command: up.command,
    args: [...(up.args ?? [])],
    env,
    ...(source && { secretEnv: { [options.credentialEnv ?? 'STRIPE_SECRET_KEY']: source } }),
  };
}
