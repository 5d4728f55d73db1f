import type { BaseMessage } from '@langchain/core/messages';
import type { StructuredToolInterface } from '@langchain/core/tools';
import {
  type BaseCheckpointSaver,
  END,
  MemorySaver,
  MessagesAnnotation,
  type RetryPolicy,
  START,
  StateGraph,
} from '@langchain/langgraph';
import { ToolNode, toolsCondition } from '@langchain/langgraph/prebuilt';
import { type AgentMiddleware, createAgent } from 'langchain';
import type { ScriptedModel } from './scripted-model.ts';

/** The graph both drivers return: LangGraph's compiled graph, as far as the tests use it. */
export interface BillingGraph {
  invoke(input: unknown, config?: Record<string, unknown>): Promise<Record<string, unknown>>;
  getState(config: Record<string, unknown>): Promise<{ values: unknown; next: string[] }>;
}

export interface ToolNodeGraphOptions {
  checkpointer?: BaseCheckpointSaver;
  /** The tools node's `retryPolicy`: LangGraph re-runs the whole node when it throws. */
  retryPolicy?: RetryPolicy;
  /** `ToolNode`'s `handleToolErrors`. Default: LangGraph's (true). */
  handleToolErrors?: boolean;
}

/**
 * The classic LangGraph agent: a `StateGraph` over `MessagesAnnotation` with an agent node (the
 * scripted `fakeModel`) and LangGraph's prebuilt `ToolNode`, `toolsCondition` between them, and a
 * `MemorySaver` so threads can be resumed.
 */
export function toolNodeGraph(
  scripted: ScriptedModel,
  tools: StructuredToolInterface[],
  options: ToolNodeGraphOptions = {},
): BillingGraph {
  const model = scripted.model.bindTools(tools);
  const agent = async (state: { messages: BaseMessage[] }) => {
    await scripted.prepare();
    return { messages: [await model.invoke(state.messages)] };
  };
  const toolNode = new ToolNode(tools, {
    ...(options.handleToolErrors !== undefined && { handleToolErrors: options.handleToolErrors }),
  });
  return new StateGraph(MessagesAnnotation)
    .addNode('agent', agent)
    .addNode('tools', toolNode, { ...(options.retryPolicy && { retryPolicy: options.retryPolicy }) })
    .addEdge(START, 'agent')
    .addConditionalEdges('agent', toolsCondition, ['tools', END])
    .addEdge('tools', 'agent')
    .compile({ checkpointer: options.checkpointer ?? new MemorySaver() }) as unknown as BillingGraph;
}

/** Awaits the script right before each model call of a `createAgent` agent (see `scriptedModel`). */
export function scriptMiddleware(scripted: ScriptedModel): AgentMiddleware {
  return {
    [Symbol.for('AgentMiddleware')]: true,
    name: 'scriptedModelTurns',
    wrapModelCall: async (request: unknown, handler: (request: unknown) => Promise<unknown>) => {
      await scripted.prepare();
      return handler(request);
    },
  } as unknown as AgentMiddleware;
}

export interface AgentOptions {
  middleware?: AgentMiddleware[];
  checkpointer?: BaseCheckpointSaver;
  /** The agent's name (`createAgent({ name })`): audit rows carry it. */
  name?: string;
}

/** A langchain v1 `createAgent` agent over the scripted `fakeModel`, with a `MemorySaver`. */
export function billingAgent(
  scripted: ScriptedModel,
  tools: StructuredToolInterface[],
  options: AgentOptions = {},
): BillingGraph {
  const middleware: AgentMiddleware[] = [...(options.middleware ?? []), scriptMiddleware(scripted)];
  const agent = createAgent({
    model: scripted.model,
    tools,
    middleware,
    checkpointer: options.checkpointer ?? new MemorySaver(),
    name: options.name,
  });
  // The thread's state through the agent's public graph (`agent.getState` is internal).
  return {
    invoke: (input, config) => agent.invoke(input as never, config) as Promise<Record<string, unknown>>,
    getState: (config) => agent.graph.getState(config) as Promise<{ values: unknown; next: string[] }>,
  };
}
