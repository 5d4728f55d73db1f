import { MemorySession, type Session } from '@openai/agents';
import type { AdapterSurface } from '@spendguard/testkit/adapters';
import { guardTools } from '../guard-tools.ts';
import { runStoppedErrorOf } from '../run-stopped.ts';
import { type BillingTools, billingTools } from './billing.ts';
import { drive, type Mode, type Outcome } from './drive.ts';
import { scriptedAgent } from './scripted-agent.ts';
import type { ScriptedBillingModel } from './scripted-model.ts';

/** One run as the behaviour table reads it: what it did, its session (to resume from), its model. */
export type OpenAiAgentsRun = Outcome & { session: Session; scripted: ScriptedBillingModel };

/**
 * The OpenAI Agents SDK under `describeAdapterBehaviour` and `runAdapterRows`: the billing tools
 * through `guardTools`, one `Agent` and one `Runner` run (awaited or streamed) per run with the
 * SDK's own `ScriptedModel`, tracing disabled. A resumed run continues the earlier run's
 * `MemorySession`; the kill switch ends a run with the SDK's `ToolCallError`, unwrapped to the
 * `RunStoppedError`.
 */
export function openAiAgentsSurface(mode: Mode): AdapterSurface<BillingTools, OpenAiAgentsRun> {
  return {
    // No abortController: the kill switch ends an OpenAI Agents run with the SDK's ToolCallError.
    tools(world, { governed, runId, runKey }) {
      if (!governed) return billingTools(world.plainStripe());
      const { tools, stats } = billingTools(world.governedStripe());
      const guarded = guardTools(tools, {
        guard: world.guard,
        key: world.rootToken,
        agentId: world.agentName,
        ...(runId && { runId }),
        ...(runKey && { runKey }),
      });
      return { tools: guarded, stats };
    },
    async run(script, { tools, prompt, resume, abortSignal }) {
      const { agent, scripted } = scriptedAgent(script, { tools });
      const session = resume?.session ?? new MemorySession();
      const outcome = await drive(mode, {
        agent,
        input: prompt,
        session,
        ...(abortSignal && { signal: abortSignal }),
      });
      return { ...outcome, session, scripted };
    },
    outputs: (run) => run.outputs,
    error: (run) => (run.error === undefined ? undefined : (runStoppedErrorOf(run.error) ?? run.error)),
    modelInputs: (run) => run.scripted.inputs(),
  };
}
