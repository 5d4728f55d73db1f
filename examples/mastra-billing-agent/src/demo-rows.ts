import { mastraSurface, runMastraRows } from '@spendguard/mastra/testing';
import { type AdapterRowsOptions, type DemoRow, runAdapterRows } from '@spendguard/testkit/adapters';

/**
 * The Mastra rows of `pnpm demo`: the adapter behaviour table's rows (`mastra/F1` … `mastra/F8`),
 * each through a real Mastra `Agent` (`generate()`, the AI SDK's mock model, `@mastra/memory`)
 * against a fake Stripe on loopback, once with the plain `createTool()` tools and once through
 * `guardTools`; then Mastra's own ways of running a charge twice (`mastra/W1` … `mastra/W4`:
 * a workflow step's `retries`, parallel branches, a `foreach` re-run, an agent's memory on a
 * resumed thread). `only` picks rows of either kind; the caller's store is left open.
 */
export async function runMastraDemoRows(
  options: Omit<AdapterRowsOptions, 'framework'> = {},
): Promise<DemoRow[]> {
  return [
    ...(await runAdapterRows('mastra', mastraSurface('generate'), { ...options, framework: 'Mastra' })),
    ...(await runMastraRows(options)),
  ];
}
