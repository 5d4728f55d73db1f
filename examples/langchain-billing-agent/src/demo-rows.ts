import { createAgentSurface } from '@spendguard/langchain/testing';
import { type AdapterRowsOptions, type DemoRow, runAdapterRows } from '@spendguard/testkit/adapters';

/**
 * The LangChain rows of `pnpm demo` (`langchain/F1` … `langchain/F8`): the adapter behaviour
 * table's rows, each through a real `createAgent` graph (LangGraph underneath, a `MemorySaver`
 * per run) with LangChain's `fakeModel()` against a fake Stripe on loopback, once with the plain
 * tools and once governed by `spendguardMiddleware`.
 */
export function runLangChainDemoRows(
  options: Omit<AdapterRowsOptions, 'framework'> = {},
): Promise<DemoRow[]> {
  return runAdapterRows('langchain', createAgentSurface(), { ...options, framework: 'LangChain' });
}
