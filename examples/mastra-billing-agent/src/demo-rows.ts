import type { Store } from '@spendguard/core';
import { mastraSurface } from '@spendguard/mastra/testing';
import { type DemoRow, runAdapterRows } from '@spendguard/testkit/adapters';

/**
 * The Mastra rows of `pnpm demo` (`mastra/F1` … `mastra/F8`): the adapter behaviour table's rows,
 * each through a real Mastra `Agent` (`generate()`, the AI SDK's mock model, `@mastra/memory`)
 * against a fake Stripe on loopback, once with the plain `createTool()` tools and once through
 * `guardTools`.
 */
export function runMastraDemoRows(
  options: { store?: Store; onRow?: (row: DemoRow) => void; only?: string[] } = {},
): Promise<DemoRow[]> {
  return runAdapterRows('mastra', mastraSurface('generate'), { ...options, framework: 'Mastra' });
}
