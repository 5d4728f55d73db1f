import type { StructuredToolInterface } from '@langchain/core/tools';
import type {
  AdapterSurface,
  BillingToolset,
  BillingWorld,
  ToolsOptions,
} from '@spendguard/testkit/adapters';
import type { AgentMiddleware } from 'langchain';
import { guardTools } from '../guard-tools.ts';
import { spendguardMiddleware } from '../middleware.ts';
import { runStopOf } from '../run-stop.ts';
import { type BillingTools, billingTools } from './billing.ts';
import { invokeThread, type ThreadRun, toolOutcomes } from './drive.ts';
import { billingAgent, toolNodeGraph } from './graphs.ts';
import { scriptedModel } from './scripted-model.ts';

/** One invocation under the behaviour table: the thread it ran on, read back from its checkpoint. */
export type LangGraphRun = ThreadRun;

/** The spendguard options a surface passes, from the table's. */
function spendguardOptions(world: BillingWorld, { runId, runKey, abortController }: ToolsOptions) {
  return {
    guard: world.guard,
    key: world.rootToken,
    agentId: world.agentName,
    ...(runId && { runId }),
    ...(runKey && { runKey }),
    ...(abortController && { abortController }),
  };
}

/** A run's thread seeded with an earlier run's conversation: a new run over the stored messages. */
function seedOf(resume: LangGraphRun | undefined) {
  return resume ? resume.messages : [];
}

const reading = {
  outputs: (run: LangGraphRun) => toolOutcomes(run.messages.slice(run.seeded)),
  error: (run: LangGraphRun) => run.error ?? runStopOf(run.messages.slice(run.seeded)),
  modelInputs: (run: LangGraphRun) => run.model.inputs(),
};

/**
 * LangGraph under `describeAdapterBehaviour` and `runAdapterRows`: a `StateGraph` with the prebuilt
 * `ToolNode` and a `MemorySaver`, the billing tools through `guardTools`, LangChain's `fakeModel()`
 * playing the script; each run on a new thread (a resumed conversation seeds it).
 */
export function langGraphSurface(): AdapterSurface<BillingTools, LangGraphRun> {
  return {
    tools(world, options) {
      if (!options.governed) return billingTools(world.plainStripe());
      const { tools, stats } = billingTools(world.governedStripe());
      return { tools: guardTools(tools, spendguardOptions(world, options)), stats };
    },
    async run(script, { tools, prompt, resume, abortSignal }) {
      const model = scriptedModel(script);
      return invokeThread(toolNodeGraph(model, tools), model, {
        prompt,
        seed: seedOf(resume),
        ...(abortSignal && { abortSignal }),
      });
    },
    ...reading,
  };
}

/** A `createAgent` agent's tools and middleware. */
export interface AgentToolset {
  tools: StructuredToolInterface[];
  middleware: AgentMiddleware[];
}

/**
 * langchain v1's `createAgent` under the behaviour table: the plain billing tools, governed by one
 * `spendguardMiddleware` (or nothing), `fakeModel()` playing the script, a `MemorySaver`.
 */
export function createAgentSurface(): AdapterSurface<AgentToolset, LangGraphRun> {
  return {
    tools(world, options): BillingToolset<AgentToolset> {
      if (!options.governed) {
        const { tools, stats } = billingTools(world.plainStripe());
        return { tools: { tools, middleware: [] }, stats };
      }
      const { tools, stats } = billingTools(world.governedStripe());
      return {
        tools: { tools, middleware: [spendguardMiddleware(spendguardOptions(world, options))] },
        stats,
      };
    },
    async run(script, { tools, prompt, resume, abortSignal }) {
      const model = scriptedModel(script);
      return invokeThread(billingAgent(model, tools.tools, { middleware: tools.middleware }), model, {
        prompt,
        seed: seedOf(resume),
        ...(abortSignal && { abortSignal }),
      });
    },
    ...reading,
  };
}
