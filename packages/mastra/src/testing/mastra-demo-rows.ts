import { type AdapterRowsOptions, type DemoRow, playDemoRows } from '@spendguard/testkit/adapters';
import { MASTRA_ROWS, playMastraColumn } from './mastra-rows.ts';

/**
 * Mastra's own ways of running a charge twice, for `pnpm demo` (`mastra/W1` … `mastra/W4`): a
 * workflow step's `retries`, parallel branches, a `foreach` re-run, an agent's memory on a resumed
 * thread — each played without and then with spendguard against a fake Stripe on loopback,
 * counted, not asserted (the tests assert them). The companion of `runAdapterRows('mastra', …)`,
 * which plays the shared table's rows.
 */
export function runMastraRows(options: Omit<AdapterRowsOptions, 'framework'> = {}): Promise<DemoRow[]> {
  return playDemoRows(MASTRA_ROWS, { prefix: 'mastra', titlePrefix: 'Mastra' }, options, playMastraColumn);
}
