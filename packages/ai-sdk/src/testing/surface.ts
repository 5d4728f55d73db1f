import type { AdapterSurface } from '@spendguard/testkit/adapters';
import type { ModelMessage } from 'ai';
import { guardTools } from '../guard-tools.ts';
import { type BillingTools, billingTools } from './billing.ts';
import { drive, type Mode, type Outcome, toolOutcomes } from './drive.ts';
import { promptOf, type ScriptedModel, scriptedModel } from './scripted-model.ts';

/** One generation as the behaviour table reads it: what it did, the conversation so far, its model. */
export type AiSdkRun = Outcome & {
  /** The prompt's messages and the response's: what an app stores to resume from. */
  conversation: ModelMessage[];
  model: ScriptedModel;
};

/**
 * The AI SDK under `describeAdapterBehaviour` and `runAdapterRows`: the billing tools through
 * `guardTools`, one `generateText` or `streamText` with the AI SDK's own `MockLanguageModelV4`
 * per run, the kill switch through the caller's `abortController`.
 */
export function aiSdkSurface(mode: Mode): AdapterSurface<BillingTools, AiSdkRun> {
  return {
    tools(world, { governed, runId, runKey, abortController }) {
      if (!governed) return billingTools(world.plainStripe());
      const { tools, stats } = billingTools(world.governedStripe());
      const guarded = guardTools(tools, {
        guard: world.guard,
        key: world.rootToken,
        agentId: world.agentName,
        ...(runId && { runId }),
        ...(runKey && { runKey }),
        ...(abortController && { abortController }),
      });
      return { tools: guarded, stats };
    },
    async run(script, { tools, prompt, resume, abortSignal }) {
      const model = scriptedModel(script);
      const messages: ModelMessage[] = [...(resume?.conversation ?? []), { role: 'user', content: prompt }];
      const outcome = await drive(mode, {
        model,
        tools,
        prompt: messages,
        ...(abortSignal && { abortSignal }),
      });
      return { ...outcome, conversation: [...messages, ...outcome.messages], model };
    },
    outputs: toolOutcomes,
    error: (run) => run.error,
    modelInputs: (run) => Array.from({ length: run.model.served }, (_, n) => promptOf(run.model, n)),
  };
}
