import { aiSdkSurface } from '@spendguard/ai-sdk/testing';
import { type AdapterRowsOptions, type DemoRow, runAdapterRows } from '@spendguard/testkit/adapters';

/**
 * The AI SDK rows of `pnpm demo` (`ai-sdk/F1` … `ai-sdk/F8`): the adapter behaviour table's rows,
 * each through the real `generateText` loop with the AI SDK's mock model against a fake Stripe on
 * loopback, once with the plain tools and once through `guardTools`.
 */
export function runAiSdkDemoRows(options: Omit<AdapterRowsOptions, 'framework'> = {}): Promise<DemoRow[]> {
  return runAdapterRows('ai-sdk', aiSdkSurface('generateText'), { ...options, framework: 'AI SDK' });
}
