import { randomUUID } from 'node:crypto';
import { Agent } from '@mastra/core/agent';
import { noopLogger } from '@mastra/core/logger';
import { InMemoryStore } from '@mastra/core/storage';
import { Memory } from '@mastra/memory';
import type { AdapterSurface } from '@spendguard/testkit/adapters';
import { guardTools } from '../guard-tools.ts';
import { type BillingTools, billingTools } from './billing.ts';
import { type AgentRun, drive, type Mode, toolOutcomes } from './drive.ts';
import { asAgentModel, promptsOf, type ScriptedModel, scriptedModel } from './scripted-model.ts';

/** One agent run as the behaviour table reads it: what it did, its memory thread, its model. */
export type MastraRun = AgentRun & {
  /** The memory thread the run wrote to: a resumed run continues it. */
  threadId: string;
  model: ScriptedModel;
};

/** The billing agent's instructions (what a real model would be told). */
export const BILLING_INSTRUCTIONS =
  'You bill customers through the charge tool. Amounts are in cents. Never charge an order twice.';

/**
 * Mastra under `describeAdapterBehaviour` and `runAdapterRows`: the billing tools through
 * `guardTools`, one real `Agent` per run with the AI SDK's `MockLanguageModelV4` as its model and
 * `@mastra/memory` over an in-memory store (a resumed run continues the earlier run's thread),
 * driven by `generate()` or `stream()`; the kill switch through the caller's `abortController`.
 */
export function mastraSurface(mode: Mode): AdapterSurface<BillingTools, MastraRun> {
  let memory: Memory | undefined;
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
      memory ??= new Memory({ storage: new InMemoryStore(), options: { lastMessages: 40 } });
      const model = scriptedModel(script);
      const agent = new Agent({
        id: 'billing-agent',
        name: 'billing-agent',
        instructions: BILLING_INSTRUCTIONS,
        model: asAgentModel(model),
        tools,
        memory,
      });
      agent.__setLogger(noopLogger);
      const threadId = resume?.threadId ?? `thread-${randomUUID()}`;
      const run = await drive(mode, agent, prompt, {
        memory: { thread: threadId, resource: 'billing-user' },
        ...(abortSignal && { abortSignal }),
      });
      return { ...run, threadId, model };
    },
    outputs: toolOutcomes,
    error: (run) => run.error,
    modelInputs: (run) => promptsOf(run.model),
  };
}
