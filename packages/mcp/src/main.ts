import { SpendguardError } from '@spendguard/core';
import { parseGatewayArgs, USAGE } from './cli-args.ts';
import { runMcpGateway } from './run-gateway.ts';

/**
 * The gateway's command line (`spendguard-mcp …` and `spendguard mcp …`): runs until stdin ends
 * or SIGINT/SIGTERM; resolves to the exit code (2 for bad arguments or a gateway that cannot start).
 */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const parsed = parseGatewayArgs(argv);
    if (parsed.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const running = await runMcpGateway(parsed.options);
    // stdout carries the protocol over stdio: everything for people goes to stderr.
    if (running.url !== undefined) process.stderr.write(`spendguard-mcp listening on ${running.url}/mcp\n`);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.close());
    await running.closed;
    return 0;
  } catch (error) {
    const message =
      SpendguardError.isInstance(error) || error instanceof Error ? error.message : String(error);
    process.stderr.write(`spendguard-mcp: ${message}\n`);
    return 2;
  }
}
