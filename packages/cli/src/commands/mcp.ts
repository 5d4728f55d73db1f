import { CliError } from '../cli-error.ts';

/** `spendguard mcp …`: the MCP gateway's own command line, from @spendguard/mcp. Resolves to the exit code. */
export default async function mcp(args: readonly string[]): Promise<number> {
  let gateway: { main(argv: readonly string[]): Promise<number> };
  try {
    gateway = (await import('@spendguard/mcp')) as typeof gateway;
  } catch {
    throw new CliError('spendguard mcp needs @spendguard/mcp: npm install @spendguard/mcp');
  }
  return gateway.main(args);
}
