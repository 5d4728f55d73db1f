import { openAiAgentsSurface } from '@spendguard/openai-agents/testing';
import { type AdapterRowsOptions, type DemoRow, runAdapterRows } from '@spendguard/testkit/adapters';

/**
 * The OpenAI Agents rows of `pnpm demo` (`openai-agents/F1` … `openai-agents/F8`): the adapter
 * behaviour table's rows, each through the SDK's real `Runner` loop with its `ScriptedModel`
 * (tracing disabled) against a fake Stripe on loopback, once with the plain tools and once
 * through `guardTools`.
 */
export function runOpenAiAgentsDemoRows(
  options: Omit<AdapterRowsOptions, 'framework'> = {},
): Promise<DemoRow[]> {
  return runAdapterRows('openai-agents', openAiAgentsSurface('run'), {
    ...options,
    framework: 'OpenAI Agents',
  });
}
