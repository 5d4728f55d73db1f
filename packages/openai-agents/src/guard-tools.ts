import { getCurrentTrace } from '@openai/agents';
import {
  type DeriveOptions,
  type Guard,
  guardToolCall,
  RunKeys,
  type ToolCallOutcome,
  type ToolCallSettings,
} from '@spendguard/core';
import {
  type ApprovalFunction,
  type ApprovedToolCall,
  approvalCheck,
  humanApproved,
  type NeedsApproval,
} from './approval.ts';
import { parsedArguments, rawCallIdOf, toolCallIdOf } from './call-input.ts';
import { CALLING_AGENT_GUARDRAIL, type CallingAgent, callingAgentOf } from './calling-agent.ts';
import { failureUnhidden } from './hidden-failure.ts';
import { runIdOf } from './run-id.ts';
import { auditTraceId } from './trace-id.ts';

/** What a custom checkpoint key is computed from, besides the tool's input. */
export interface CheckpointKeyContext {
  /** The tool's name. */
  toolName: string;
  /** The model's id of this call (new on every model call). */
  toolCallId: string | undefined;
  /** The run this call belongs to. */
  runId: string;
  /** The run's context object (`run(agent, input, { context })`). */
  context: unknown;
}

/** A checkpoint key for one tool's input: a business key such as an order id. */
export type CheckpointKeyFunction<INPUT> = (input: INPUT, ctx: CheckpointKeyContext) => string | undefined;

/** An input field, or `context.<name>` for an entry of the run's context object. */
export type CheckpointField<INPUT> = (keyof INPUT & string) | `context.${string}`;

/** Options every guarded tool shares. */
export interface GuardToolsBaseOptions {
  /** The guard that checkpoints, caps and audits the calls. */
  guard: Guard;
  /**
   * The root vault key (`sk_sg_…`) of the agent's role; each run gets a run key derived from it.
   * Give each agent of a handoff chain the key of its own role: its tools can do what that role
   * may, and no more.
   */
  key: string;
  /**
   * The run the calls belong to (audit rows, run key, run caps). A `runId` string in the run's
   * context (`run(agent, input, { context: { runId } })`) wins. Default: one id generated per
   * `guardTools` / `guardTool` call.
   */
  runId?: string;
  /** The agent's name on every audit row. Default: the name of the `Agent` whose turn made the call. */
  agentId?: string;
  /**
   * Whose duplicates count: `'root'` deduplicates across every run of the root key (a retried
   * run, a resumed session); `'run'` only within one run. Default: `'root'`.
   */
  scope?: 'root' | 'run';
  /** How each derived run key narrows the root key's policy (`caps`, `operations`, `ratePerMinute`, `ttl`). Default: not at all. */
  runKey?: Omit<DeriveOptions, 'runId'>;
  /**
   * Who approved a tool call, for the audit rows of the vendor calls it let through (`approved by
   * …`), e.g. the signed-in user who answered the interruption. The SDK's `state.approve()` names
   * no one. Default: `openai-agents tool approval <callId>`.
   */
  approver?: (approval: ApprovedToolCall) => string | undefined;
}

/** Options of `guardTools`: the shared ones, and per-tool settings keyed by tool name. */
export interface GuardToolsOptions extends GuardToolsBaseOptions {
  /**
   * Per tool name, the billing-relevant input fields: only these make its checkpoint key, so a
   * reworded free-text field is not a new charge. The run's context object is part of the key too
   * (less its `runId`); `context.<name>` entries keep only those of it — name them when the context
   * holds anything that is not JSON data (a client, a class instance), which the key cannot hash.
   * Default: every input field and the whole context.
   */
  fields?: Readonly<Record<string, readonly string[]>>;
  /** Per tool name, a checkpoint key (e.g. the order id) instead of the content hash. Default: the content hash. */
  idempotencyKey?: Readonly<Record<string, CheckpointKeyFunction<never>>>;
  /**
   * Per tool name, the vendor call(s) its input will make (`{ vendor, method, path, params }`): a
   * call the policy's approval rule (`approval.above`) matches then needs the SDK's approval
   * (`needsApproval` → `result.interruptions` → `state.approve()` → `run(agent, state)`) before the
   * tool runs, and once approved runs with the approval. Default: none — such a call runs the tool,
   * and its vendor call is refused with core's approval id.
   */
  approval?: Readonly<Record<string, ApprovalFunction<never>>>;
}

/** The input of an SDK function tool's `execute`, from its parameters schema (as its `needsApproval` takes it). */
export type ToolInput<TOOL> = TOOL extends {
  needsApproval: (runContext: never, input: infer INPUT, callId?: string) => Promise<boolean>;
}
  ? INPUT
  : unknown;

/** Options of `guardTool`: the shared ones and the tool's own settings. */
export interface GuardToolOptions<INPUT> extends GuardToolsBaseOptions {
  /** The billing-relevant input fields and `context.<name>` entries (see `GuardToolsOptions.fields`). Default: all. */
  fields?: readonly CheckpointField<INPUT>[];
  /** A checkpoint key (e.g. the order id) instead of the content hash. Default: the content hash. */
  idempotencyKey?: CheckpointKeyFunction<INPUT>;
  /** The vendor call(s) the tool's input will make, for approval rules (see `GuardToolsOptions.approval`). Default: none. */
  approval?: ApprovalFunction<INPUT>;
}

/** The parts of an SDK function tool (`tool()`) the wrapper touches, typed structurally. */
export interface FunctionToolLike {
  type: 'function';
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: any tool's RunContext and details are accepted as they come
  invoke: (runContext: any, input: string, details?: any) => Promise<unknown>;
  // biome-ignore lint/suspicious/noExplicitAny: the SDK types the input by the tool's schema
  needsApproval: (runContext: any, input: any, callId?: string) => Promise<boolean>;
  inputGuardrails?: readonly unknown[] | undefined;
}

/**
 * Where a guarded tool keeps the tool it wraps: a `Symbol.for` key shared by every installed copy
 * of this package, not enumerable (a spread copy is a plain tool again). Guarding a guarded tool
 * wraps the original with the new options, so a tool never runs through two checkpoints and a
 * tool handed to another agent takes that agent's key.
 */
const GUARDED = Symbol.for('spendguard.openai-agents.guardedTool');

/** Whether a tool was returned by `guardTool` / `guardTools` (of any installed copy of this package). */
export function isGuardedTool(tool: unknown): boolean {
  return (
    tool !== null && typeof tool === 'object' && isFunctionTool((tool as Record<symbol, unknown>)[GUARDED])
  );
}

/**
 * Guard every function tool of an agent's tool list: each call runs exactly once per input, bound
 * to a run key (governed clients inside the tool use it), with refusals as outputs the model reads
 * and a revoked key ending the run. Returns the same list, in order: use it as an `Agent`'s
 * `tools`, in handoffs and in agents-as-tools. Tools that are not function tools (hosted tools,
 * computer, shell) are returned as they are.
 */
export function guardTools<TOOLS extends readonly { type: string }[]>(
  tools: TOOLS,
  options: GuardToolsOptions,
): TOOLS {
  const runKeys = runKeysOf(options);
  return tools.map((tool) => {
    if (!isFunctionTool(tool)) return tool;
    const name = tool.name;
    return wrap(tool, {
      ...options,
      name,
      fields: own(options.fields, name),
      idempotencyKey: own(options.idempotencyKey, name) as ToolCallSettings['idempotencyKey'],
      approval: own(options.approval, name) as ApprovalFunction<unknown> | undefined,
      runKeys,
    });
  }) as unknown as TOOLS;
}

/** Guard one function tool (see `guardTools`). */
export function guardTool<TOOL extends FunctionToolLike>(
  tool: TOOL,
  options: GuardToolOptions<ToolInput<TOOL>>,
): TOOL {
  return wrap(tool, {
    ...options,
    name: tool.name,
    idempotencyKey: options.idempotencyKey as ToolCallSettings['idempotencyKey'],
    approval: options.approval as ApprovalFunction<unknown> | undefined,
    runKeys: runKeysOf(options),
  });
}

interface WrapSettings extends Omit<GuardToolsBaseOptions, 'key'>, ToolCallSettings {
  approval?: ApprovalFunction<unknown> | undefined;
}

function runKeysOf(options: GuardToolsBaseOptions): RunKeys {
  return new RunKeys({
    guard: options.guard,
    key: options.key,
    runId: options.runId,
    runIdPrefix: 'openai-agents-',
    derive: options.runKey,
  });
}

function wrap<TOOL extends FunctionToolLike>(tool: TOOL, settings: WrapSettings): TOOL {
  const original = originalOf(tool);

  const invoke = async (runContext: unknown, input: string, details?: unknown): Promise<unknown> => {
    // A sibling call already failed (or the caller aborted): start nothing.
    signalOf(details)?.throwIfAborted();
    const args = parsedArguments(input);
    // Not JSON: the tool's own parser refuses it inside `invoke`, so nothing runs.
    if (!args) return original.invoke(runContext, input, details);
    const context = contextOf(runContext);
    const runId = runIdOf(context, settings.runKeys);
    const toolCallId = toolCallIdOf(details);
    const caller = callingAgentOf(runContext, details);
    const traceId = auditTraceId(getCurrentTrace(), (text) => settings.guard.redact(text) !== text);
    const outcome = await guardToolCall(
      {
        ...settings,
        agentId: settings.agentId ?? caller?.name,
      },
      {
        input: args.value,
        toolCallId,
        runId,
        context,
        traceId,
        approvedBy: approvedByOf(settings, runContext, details, { toolCallId, runId, caller, context }),
        // The tool's own invoke: its parser, its execute, its error function. A failure its error
        // function turned into text is thrown again, so the checkpoint fails and the model reads why.
        run: async () => failureUnhidden(original.name, await original.invoke(runContext, input, details)),
      },
    );
    return deliver(outcome);
  };

  const descriptors = Object.getOwnPropertyDescriptors(original) as PropertyDescriptorMap;
  const overrides: Record<string | symbol, unknown> = {
    invoke,
    inputGuardrails: [...(original.inputGuardrails ?? []), CALLING_AGENT_GUARDRAIL],
  };
  if (settings.approval) {
    overrides.needsApproval = approvalCheck(
      original.needsApproval.bind(original) as NeedsApproval,
      settings.approval,
      settings,
    );
  }
  for (const [key, value] of Object.entries(overrides)) {
    descriptors[key] = { value, writable: true, enumerable: true, configurable: true };
  }
  descriptors[GUARDED] = { value: original };
  return Object.create(Object.getPrototypeOf(original), descriptors) as TOOL;
}

/**
 * The SDK's way to deliver an outcome: the result or the refusal is the tool's output (never an
 * error, which the SDK would turn into "Please try again"); a stop throws the `RunStoppedError`,
 * so the SDK cancels the sibling calls of the turn (their `signal`) and `run()` — or a streamed
 * run's `completed` — rejects with its `ToolCallError`. (No abort signal: aborting the signal of
 * a streamed run ends it as `cancelled`, with no error to say why.)
 */
function deliver(outcome: ToolCallOutcome): unknown {
  switch (outcome.kind) {
    case 'result':
      return outcome.value;
    case 'refusal':
      return outcome.refusal;
    case 'stop':
      throw outcome.error;
  }
}

/**
 * Who approved this call, when the SDK runs it after a human's `state.approve(item)` and the tool
 * maps its approvals (`approval`). Without that mapping the adapter claims no approval: the
 * policy's approval rules are then answered in core.
 */
function approvedByOf(
  settings: WrapSettings,
  runContext: unknown,
  details: unknown,
  call: { toolCallId: string | undefined; runId: string; caller: CallingAgent | undefined; context: unknown },
): string | undefined {
  if (!settings.approval) return undefined;
  const approved = humanApproved(runContext, {
    toolName: settings.name,
    callId: rawCallIdOf(details),
    agent: call.caller?.agent,
  });
  if (!approved) return undefined;
  const named = settings.approver?.({
    toolName: settings.name,
    toolCallId: call.toolCallId,
    runId: call.runId,
    agentName: call.caller?.name,
    context: call.context,
  });
  return named || `openai-agents tool approval ${call.toolCallId}`;
}

/** The tool a guarded tool wraps, or the tool itself. */
function originalOf<TOOL extends FunctionToolLike>(tool: TOOL): TOOL {
  const inner = (tool as unknown as Record<symbol, unknown>)[GUARDED];
  return isFunctionTool(inner) ? (inner as TOOL) : tool;
}

function isFunctionTool(value: unknown): value is FunctionToolLike {
  if (value === null || typeof value !== 'object') return false;
  const tool = value as Partial<FunctionToolLike>;
  return (
    tool.type === 'function' &&
    typeof tool.name === 'string' &&
    typeof tool.invoke === 'function' &&
    typeof tool.needsApproval === 'function'
  );
}

/** A per-tool setting, by the tool's name, from the options' own entries only. */
function own<T>(settings: Readonly<Record<string, T>> | undefined, name: string): T | undefined {
  return settings && Object.hasOwn(settings, name) ? settings[name] : undefined;
}

function contextOf(runContext: unknown): unknown {
  return runContext !== null && typeof runContext === 'object'
    ? (runContext as { context?: unknown }).context
    : undefined;
}

function signalOf(details: unknown): AbortSignal | undefined {
  if (details === null || typeof details !== 'object') return undefined;
  const signal = (details as { signal?: unknown }).signal;
  return signal instanceof AbortSignal ? signal : undefined;
}
