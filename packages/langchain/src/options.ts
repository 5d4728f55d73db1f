import type { DeriveOptions, Guard } from '@spendguard/core';
import type { ApprovalDecision } from './approval-request.ts';
import type { LangGraphConfig } from './call-binding.ts';

/** What a custom checkpoint key is computed from, besides the tool's input. */
export interface CheckpointKeyContext {
  /** The tool's name. */
  toolName: string;
  /** The model's id of this tool call (new on every model call), else LangGraph's task id. */
  toolCallId: string | undefined;
  /** The run this call belongs to. */
  runId: string;
  /** LangGraph's run context (`invoke(input, { context })`), as the tool receives it. */
  context: unknown;
  /** The tool's `RunnableConfig` (e.g. `configurable.user_id` for tools that read it there). */
  config: LangGraphConfig;
}

/** A checkpoint key for one tool's input: a business key such as an order id. */
export type CheckpointKeyFunction<INPUT> = (input: INPUT, ctx: CheckpointKeyContext) => string | undefined;

/** An input field, or `context.<name>` for an entry of LangGraph's run context. */
export type CheckpointField<INPUT> = (keyof INPUT & string) | `context.${string}`;

/** A call a human approved through spendguard's `interrupt()`, about to run. */
export interface ApprovedToolCall {
  toolName: string;
  toolCallId: string;
  runId: string;
  /** The reviewer's decision as the app resumed with it (`Command({ resume: { decisions } })`). */
  decision: ApprovalDecision;
  /** LangGraph's run context of the call. */
  context: unknown;
  /** The tool call's `RunnableConfig` (its `configurable`, `metadata`, …). */
  config: LangGraphConfig;
}

/** Options every guarded tool, toolset and middleware shares. */
export interface SpendguardOptions {
  /** The guard that checkpoints, caps and audits the calls. */
  guard: Guard;
  /** The root vault key (`sk_sg_…`) of the agent; each run gets a run key derived from it. */
  key: string;
  /**
   * The run the calls belong to (audit rows, run key, run caps, revocation). Default: the LangGraph
   * thread (`configurable.thread_id`), else one id generated per `guardTools` / `guardTool` /
   * `spendguardMiddleware` call.
   */
  runId?: string;
  /** The agent's name on every audit row. Default: the `name` of `createAgent({ name })`, else none. */
  agentId?: string;
  /**
   * Whose duplicates count: `'root'` deduplicates across every run of the root key (a retried
   * invocation, another thread over the same conversation); `'run'` only within one run. Default: `'root'`.
   */
  scope?: 'root' | 'run';
  /**
   * Aborted with a `RunStoppedError` when the run's vault key is revoked or expired (the kill
   * switch). Pass its `signal` to `invoke` / `stream` and the call rejects with that error.
   * Default: none — the run ends LangGraph's way (see the README's "Kill switch").
   */
  abortController?: AbortController;
  /** How each derived run key narrows the root key's policy (`caps`, `operations`, `ratePerMinute`, `ttl`). Default: not at all. */
  runKey?: Omit<DeriveOptions, 'runId'>;
  /**
   * Who approved a call, for the audit rows of the vendor calls it let through (`approved by …`).
   * Default: `langgraph interrupt (tool call <id>)`.
   */
  approver?: (approval: ApprovedToolCall) => string | undefined;
}
