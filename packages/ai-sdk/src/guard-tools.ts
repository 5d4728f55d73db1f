import {
  type DeriveOptions,
  type Guard,
  guardToolCall,
  isToolRefusal,
  policyApprovalReason,
  RunKeys,
  type ToolCallOutcome,
  type ToolCallSettings,
} from '@spendguard/core';
import type { InferToolInput, ModelMessage, Tool, ToolExecutionOptions, ToolSet } from 'ai';
import {
  type ApprovalCheck,
  type ApprovalFunction,
  type ApprovedToolCall,
  brandApprovalCheck,
  humanApprovalOf,
  type VendorRequest,
} from './approval.ts';

/** What a custom checkpoint key is computed from, besides the tool's input. */
export interface CheckpointKeyContext {
  /** The tool's name (its key in the tools record). */
  toolName: string;
  /** The AI SDK's id of this tool call (new on every model call). */
  toolCallId: string;
  /** The run this call belongs to. */
  runId: string;
  /** The tool's context from `toolsContext`, as the AI SDK passed it to `execute`. */
  context: unknown;
}

/** A checkpoint key for one tool's input: a business key such as an order id. */
export type CheckpointKeyFunction<INPUT> = (input: INPUT, ctx: CheckpointKeyContext) => string | undefined;

/** Options every guarded tool shares. */
export interface GuardToolsBaseOptions {
  /** The guard that checkpoints, caps and audits the calls. */
  guard: Guard;
  /** The root vault key (`sk_sg_…`) of the agent; each run gets a run key derived from it. */
  key: string;
  /**
   * The run the calls belong to (audit rows, run key, run caps). A `runId` string in a tool's
   * context (`toolsContext: { charge: { runId } }`) wins for that call. Default: one id generated
   * per `guardTools` / `guardTool` call.
   */
  runId?: string;
  /** The agent's name on every audit row. Default: none. */
  agentId?: string;
  /**
   * Whose duplicates count: `'root'` deduplicates across every run of the root key (a retried
   * generation, a replayed conversation); `'run'` only within one run. Default: `'root'`.
   */
  scope?: 'root' | 'run';
  /**
   * Aborted with a `RunStoppedError` when the run's vault key is revoked or expired (the kill
   * switch). Pass its `signal` as `abortSignal` to `generateText`, `streamText` or the agent call
   * so no further step runs. Default: none — the tool then only returns the refusal.
   */
  abortController?: AbortController;
  /** How each derived run key narrows the root key's policy (`caps`, `operations`, `ratePerMinute`, `ttl`). Default: not at all. */
  runKey?: Omit<DeriveOptions, 'runId'>;
  /**
   * Who approved a tool call, for the audit rows of the vendor calls it let through (`approved by
   * …`), e.g. the signed-in user of the request. The AI SDK's approval response names no one.
   * Default: `ai-sdk tool approval <approvalId>`.
   */
  approver?: (approval: ApprovedToolCall) => string | undefined;
}

/** An input field, or `context.<name>` for an entry of the tool's `toolsContext`. */
export type CheckpointField<INPUT> = (keyof INPUT & string) | `context.${string}`;

/** Options of `guardTools`: the shared ones, and per-tool settings keyed by tool name. */
export interface GuardToolsOptions<TOOLS extends ToolSet> extends GuardToolsBaseOptions {
  /**
   * The billing-relevant input fields of each tool: only these make its checkpoint key, so a
   * reworded free-text field does not make a new charge. The tool's `toolsContext` entry is part
   * of the key too (less its `runId`); `context.<name>` entries keep only those of it. Default:
   * every input field and the whole context.
   */
  fields?: { [NAME in keyof TOOLS]?: readonly CheckpointField<InferToolInput<TOOLS[NAME]>>[] };
  /** A checkpoint key per tool (e.g. the order id) instead of the content hash. Default: the content hash. */
  idempotencyKey?: { [NAME in keyof TOOLS]?: CheckpointKeyFunction<InferToolInput<TOOLS[NAME]>> };
  /**
   * Per tool, the vendor call(s) its input will make (`{ vendor, method, path, params }`): a call
   * the policy's approval rule (`approval.above`) matches then asks the AI SDK's tool approval
   * (`needsApproval`, a `tool-approval-request`) before the tool runs, and once approved runs with
   * the approval. Default: none — such a call runs the tool, and its vendor call is refused.
   */
  approval?: { [NAME in keyof TOOLS]?: ApprovalFunction<InferToolInput<TOOLS[NAME]>> };
}

/** Options of `guardTool`: the shared ones, the tool's name and its settings. */
export interface GuardToolOptions<INPUT> extends GuardToolsBaseOptions {
  /** The tool's name, as in the tools record the model sees. Part of the checkpoint key and audit rows. */
  name: string;
  /**
   * The billing-relevant input fields that make the checkpoint key, and `context.<name>` entries
   * of the tool's context. Default: every input field and the whole context (less `runId`).
   */
  fields?: readonly CheckpointField<INPUT>[];
  /** A checkpoint key (e.g. the order id) instead of the content hash. Default: the content hash. */
  idempotencyKey?: CheckpointKeyFunction<INPUT>;
  /** The vendor call(s) the tool's input will make, for approval rules (see `GuardToolsOptions.approval`). Default: none. */
  approval?: ApprovalFunction<INPUT>;
}

/**
 * Wrap a record of AI SDK tools so each execution runs exactly once per input, bound to a run
 * key (governed clients inside the tool use it), with refusals as outputs the model reads.
 * Returns the same record type: use it in `generateText`, `streamText` or a `ToolLoopAgent`.
 * Tools without `execute` (client-side and provider-executed tools) are returned as they are.
 */
export function guardTools<TOOLS extends ToolSet>(tools: TOOLS, options: GuardToolsOptions<TOOLS>): TOOLS {
  const runKeys = runKeysOf(options);
  const guarded: Record<string, unknown> = {};
  for (const [name, tool] of Object.entries(tools)) {
    guarded[name] = wrap(tool, {
      ...options,
      name,
      fields: options.fields?.[name],
      idempotencyKey: options.idempotencyKey?.[name] as ToolCallSettings['idempotencyKey'],
      approval: options.approval?.[name] as ApprovalFunction<unknown> | undefined,
      runKeys,
    });
  }
  return guarded as TOOLS;
}

/** Wrap one AI SDK tool (see `guardTools`); `name` is its key in the tools record. */
export function guardTool<TOOL extends Tool>(
  tool: TOOL,
  options: GuardToolOptions<InferToolInput<TOOL>>,
): TOOL {
  return wrap(tool, {
    ...options,
    idempotencyKey: options.idempotencyKey as ToolCallSettings['idempotencyKey'],
    approval: options.approval as ApprovalFunction<unknown> | undefined,
    runKeys: runKeysOf(options),
  });
}

// `idempotencyKey` is cast to core's key function above: core's context may lack a `toolCallId`,
// but the AI SDK gives every call one.
interface WrapSettings extends GuardToolsBaseOptions, ToolCallSettings {
  approval?: ApprovalFunction<unknown> | undefined;
}

type NeedsApprovalOptions = { toolCallId: string; messages: ModelMessage[]; context: unknown };

/** The parts of a tool the wrapper touches. */
interface ExecutablePart {
  execute?: (input: unknown, options: ToolExecutionOptions<unknown>) => unknown;
  needsApproval?:
    | boolean
    | ((input: unknown, options: NeedsApprovalOptions) => boolean | PromiseLike<boolean>);
  toModelOutput?: (options: { toolCallId: string; input: unknown; output: unknown }) => unknown;
}

function runKeysOf(options: GuardToolsBaseOptions): RunKeys {
  return new RunKeys({
    guard: options.guard,
    key: options.key,
    runId: options.runId,
    runIdPrefix: 'ai-sdk-',
    derive: options.runKey,
  });
}

function wrap<TOOL>(tool: TOOL, settings: WrapSettings): TOOL {
  const original = tool as TOOL & ExecutablePart;
  const run = original.execute;
  if (typeof run !== 'function') return tool;

  const execute = async (input: unknown, options: ToolExecutionOptions<unknown>): Promise<unknown> => {
    const runId = runIdOf(options.context, settings.runKeys);
    const outcome = await guardToolCall(settings, {
      input,
      toolCallId: options.toolCallId,
      runId,
      context: options.context,
      approvedBy: approvedByOf(settings, options, runId),
      run: () => finalOutput(run.call(original, input, options)),
    });
    return deliver(outcome, settings.abortController);
  };

  const toModelOutput = original.toModelOutput;
  const check =
    settings.approval && approvalCheck(original, original.needsApproval, settings.approval, settings);
  const wrapped = {
    ...original,
    execute,
    ...(check && {
      needsApproval: async (input: unknown, options: NeedsApprovalOptions) =>
        (await check(input, options)) !== undefined,
    }),
    // A refusal is not the tool's own output: send it as JSON rather than through its converter.
    ...(typeof toModelOutput === 'function' && {
      toModelOutput: (o: { toolCallId: string; input: unknown; output: unknown }) =>
        isToolRefusal(o.output) ? { type: 'json', value: o.output } : toModelOutput.call(original, o),
    }),
  };
  if (check) brandApprovalCheck(wrapped, check);
  return wrapped as TOOL;
}

/**
 * The AI SDK's way to deliver an outcome: the result or the refusal is the tool's output (never a
 * `tool-error`, which the model would retry); a stop also aborts the caller's `abortController`.
 */
function deliver(outcome: ToolCallOutcome, abortController: AbortController | undefined): unknown {
  switch (outcome.kind) {
    case 'result':
      return outcome.value;
    case 'refusal':
      return outcome.refusal;
    case 'stop':
      if (abortController && !abortController.signal.aborted) abortController.abort(outcome.error);
      return outcome.refusal;
  }
}

/**
 * Whether a call needs a human's yes first: the tool's own `needsApproval`, else the policy's
 * approval rule for the vendor call(s) the input maps to (answered no when the key cannot act:
 * `execute` then reports the refusal).
 */
function approvalCheck(
  tool: ExecutablePart,
  own: ExecutablePart['needsApproval'],
  approval: ApprovalFunction<unknown>,
  settings: WrapSettings,
): ApprovalCheck {
  return async (input, options) => {
    if (typeof own === 'function' ? await own.call(tool, input, options) : own === true) return {};
    const mapped = approval(input);
    const requests: readonly VendorRequest[] =
      mapped === undefined ? [] : Array.isArray(mapped) ? mapped : [mapped];
    const runId = runIdOf(options.context, settings.runKeys);
    const reason = await policyApprovalReason(settings, { runId, requests });
    return reason === undefined ? undefined : { reason };
  };
}

/**
 * Who approved this call, when the AI SDK runs it after a human's `tool-approval-response`
 * (`approved: true`) and the tool maps its approvals (`approval`). Without that mapping the
 * adapter claims no approval: the policy's approval rules are then answered in core.
 */
function approvedByOf(
  settings: WrapSettings,
  options: ToolExecutionOptions<unknown>,
  runId: string,
): string | undefined {
  if (!settings.approval) return undefined;
  const approval = humanApprovalOf(options.messages, options.toolCallId);
  if (!approval) return undefined;
  const named = settings.approver?.({
    toolName: settings.name,
    toolCallId: options.toolCallId,
    approvalId: approval.approvalId,
    reason: approval.reason,
    runId,
    context: options.context,
  });
  return named || `ai-sdk tool approval ${approval.approvalId}`;
}

/** The run of a call: a `runId` string in its tool context (`toolsContext: { <tool>: { runId } }`), else the toolset's. */
function runIdOf(context: unknown, runKeys: RunKeys): string {
  const runId =
    context !== null && typeof context === 'object' ? (context as { runId?: unknown }).runId : undefined;
  return typeof runId === 'string' && runId !== '' ? runId : runKeys.defaultRunId;
}

/** A tool that streams preliminary outputs is checkpointed on its last (final) one. */
async function finalOutput(result: unknown): Promise<unknown> {
  if (result !== null && typeof result === 'object' && Symbol.asyncIterator in result) {
    let last: unknown;
    for await (const output of result as AsyncIterable<unknown>) last = output;
    return last;
  }
  return await result;
}
