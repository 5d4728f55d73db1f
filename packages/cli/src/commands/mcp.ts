import { CliError } from '../cli-error.ts';

/** `spendguard mcp …`: the MCP gateway's own command line, from @spendguard/mcp. */
export default async function mcp(args: string[]) {
  let gateway: { main(argv: readonly string[]): Promise<number> };
  try {
    gateway = (await import('@spendguard/mcp' as string)) as typeof gateway;
  } catch {
    throw new CliError('spendguard mcp needs @spendguard/mcp: npm install @spendguard/mcp');
  }
  process.exitCode = await gateway.main(args);
}
