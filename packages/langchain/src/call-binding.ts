/**
 * What LangChain and LangGraph hand a tool call, as far as spendguard reads it: the tool's
 * `RunnableConfig` (a `ToolRuntime` inside LangGraph's `ToolNode`, the task's config inside a
 * `wrapToolCall` middleware). Typed structurally: two installed copies of `@langchain/core` or
 * `@langchain/langgraph` must not break it.
 */
export interface LangGraphConfig {
  configurable?: Record<string, unknown> | undefined;
  metadata?: Record<string, unknown> | undefined;
  /** LangGraph's ids of the task running the call; `taskId` and `threadId` survive retries and resumes. */
  executionInfo?: { threadId?: unknown; taskId?: unknown } | undefined;
  /** The tool call a `ToolNode` passes (`{ name, args, id }`). */
  toolCall?: { id?: unknown } | undefined;
  toolCallId?: unknown;
  /** LangGraph's run context (`invoke(input, { context })`), what a tool reads besides its input. */
  context?: unknown;
  /** The graph run's drain control (`RunControl`). */
  control?: { requestDrain(reason?: string): void } | undefined;
  signal?: AbortSignal | undefined;
}

/** Where one call belongs: its run, its ids, and what outside its input changes its effect. */
export interface CallBinding {
  /** The run: `options.runId`, else the LangGraph thread, else the toolset's generated id. */
  runId: string;
  /** The LangGraph thread (`configurable.thread_id`), when the graph has a checkpointer. */
  threadId: string | undefined;
  /** The model's id of the tool call, else LangGraph's task id (a tool invoked in a node). */
  toolCallId: string | undefined;
  /** `options.agentId`, else the name `createAgent({ name })` put in the run's metadata. */
  agentId: string | undefined;
  /** LangGraph's run context: part of the checkpoint key (see core's `ToolCall.context`). */
  context: unknown;
}

/** Ids longer than this are not ids (a model can put anything in a tool call id). */
const MAX_ID_LENGTH = 256;

/** A usable id: a non-empty string of bounded length, else undefined. */
export function idOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' && value.length <= MAX_ID_LENGTH ? value : undefined;
}

/**
 * Bind a call to its run and ids. `toolCallId` is the id the caller already knows (the
 * middleware's `request.toolCall.id`); the config's own ids are read when it has none.
 */
export function callBinding(
  config: LangGraphConfig | undefined,
  options: { runId?: string | undefined; agentId?: string | undefined; defaultRunId: string },
  toolCallId?: unknown,
): CallBinding {
  const threadId = idOf(config?.configurable?.thread_id) ?? idOf(config?.executionInfo?.threadId);
  return {
    runId: options.runId ?? threadId ?? options.defaultRunId,
    threadId,
    toolCallId:
      idOf(toolCallId) ??
      idOf(config?.toolCall?.id) ??
      idOf(config?.toolCallId) ??
      idOf(config?.executionInfo?.taskId),
    agentId: options.agentId ?? idOf(config?.metadata?.lc_agent_name),
    context: config?.context,
  };
}
