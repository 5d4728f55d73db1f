import { parseArgs } from 'node:util';
import { GatewayOptionsError } from './errors.ts';
import type { RunMcpGatewayOptions } from './run-gateway.ts';

export const USAGE = `Usage: spendguard-mcp [options] -- <command> [args…]
       spendguard-mcp [options] --upstream-url <https://…>

An MCP gateway: every tool call of the upstream MCP server is checked against your spendguard
policy, capped, made exactly once and audited. The client's vault key comes from SPENDGUARD_KEY
(stdio) or its Bearer token (--http); the upstream's real key comes from the policy's credentials.

Options:
  --config <file>          policy file (default: spendguard.yaml)
  --store <spec>           sqlite:<file> | redis://… | postgres://… (default: SQLite beside the policy)
  --builtin <stripe|none>  built-in map for the upstream's tools (default: stripe); other tools
                           are mapped by the policy's mcp.tools section
  --upstream-url <url>     the upstream's Streamable HTTP URL, instead of a command
  --credential <name>      the policy credential the upstream gets (default: stripe, if named)
  --credential-env <NAME>  the child's variable that receives it (default: STRIPE_SECRET_KEY)
  --pass-env <NAME>        pass this variable on to the child (repeatable)
  --http <port>            serve Streamable HTTP on 127.0.0.1:<port> (0: any free port) instead of stdio
  --key-env <NAME>         where a stdio client's vault key is read (default: SPENDGUARD_KEY)
  --run-id <id>            the run every call belongs to (default: one per session)
  --stripe-api <origin>    where prices, invoices and payments are read to price calls (default: https://api.stripe.com)
  --no-elicitation         never ask the user through MCP elicitation; approvals come from the CLI
  -h, --help               show this help`;

/** What the command line asks for: the gateway's options, or the help text. */
export type ParsedArgs = { help: true } | { help: false; options: RunMcpGatewayOptions };

/** `spendguard-mcp`'s arguments. Everything after `--` is the upstream command, untouched. */
export function parseGatewayArgs(argv: readonly string[]): ParsedArgs {
  const split = argv.indexOf('--');
  const own = split === -1 ? [...argv] : argv.slice(0, split);
  const command = split === -1 ? [] : argv.slice(split + 1);
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(own).values;
  } catch (error) {
    throw new GatewayOptionsError(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (values.help) return { help: true };
  const url = values['upstream-url'];
  if (url !== undefined && command.length > 0) {
    throw new GatewayOptionsError(
      'give the upstream either as a command after -- or as --upstream-url, not both',
    );
  }
  if (url === undefined && command.length === 0) {
    throw new GatewayOptionsError(
      `no upstream MCP server: give its command after --, or --upstream-url\n\n${USAGE}`,
    );
  }
  const builtIn = values.builtin;
  if (builtIn !== undefined && builtIn !== 'stripe' && builtIn !== 'none') {
    throw new GatewayOptionsError(`--builtin must be stripe or none, got ${JSON.stringify(builtIn)}`);
  }
  const options: RunMcpGatewayOptions = {
    upstream: url !== undefined ? { url } : { command: command[0] as string, args: command.slice(1) },
    ...(values.config !== undefined && { config: values.config }),
    ...(values.store !== undefined && { store: values.store }),
    ...(builtIn !== undefined && { builtIn }),
    ...(values.credential !== undefined && { credential: values.credential }),
    ...(values['credential-env'] !== undefined && { credentialEnv: values['credential-env'] }),
    ...(values['pass-env'] !== undefined && { passEnv: values['pass-env'] }),
    ...(values.http !== undefined && { http: { port: port(values.http) } }),
    ...(values['key-env'] !== undefined && { keyEnv: values['key-env'] }),
  };
  const gateway: NonNullable<RunMcpGatewayOptions['gateway']> = {
    ...(values['run-id'] !== undefined && { runId: values['run-id'] }),
    ...(values['stripe-api'] !== undefined && { lookupOrigins: { stripe: origin(values['stripe-api']) } }),
    ...(values['no-elicitation'] && { elicitation: false }),
  };
  return { help: false, options: Object.keys(gateway).length > 0 ? { ...options, gateway } : options };
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string' },
      store: { type: 'string' },
      builtin: { type: 'string' },
      'upstream-url': { type: 'string' },
      credential: { type: 'string' },
      'credential-env': { type: 'string' },
      'pass-env': { type: 'string', multiple: true },
      http: { type: 'string' },
      'key-env': { type: 'string' },
      'run-id': { type: 'string' },
      'stripe-api': { type: 'string' },
      'no-elicitation': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65_535)
    throw new GatewayOptionsError(`--http must be a port number, got ${JSON.stringify(value)}`);
  return n;
}

function origin(value: string): string {
  try {
    return new URL(value).origin;
  } catch {
    throw new GatewayOptionsError(`--stripe-api must be a URL, got ${JSON.stringify(value)}`);
  }
}
