import { isCommand } from '@langchain/langgraph';
import { type Guard, RunKeys, SpendguardError, type ToolCallOutcome } from '@spendguard/core';
import { ApprovalAsks } from './approval-asks.ts';
import type { ApprovalFunction } from './approval-request.ts';
import { type CallBinding, callBinding, type LangGraphConfig } from './call-binding.ts';
import { approvalAsk, type GuardedToolSettings, guardedCall } from './guarded-call.ts';
import type { CheckpointField, CheckpointKeyFunction, SpendguardOptions } from './options.ts';
import { parsedArgs, pendingToolCalls } from './pending-calls.ts';
import { refusalMessage } from './refusal-message.ts';
import { stopRun } from './run-stop.ts';
import { resultMessage, storedMessage, storedOutput } from './stored-output.ts';
import type { GuardableTool, PerToolOptions, ToolInput } from './tool-types.ts';

/** Options of `guardTools`: the shared ones, and per-tool settings keyed by tool name. */
export interface GuardToolsOptions<TOOLS extends readonly GuardableTool[]>
  extends SpendguardOptions,
    PerToolOptions<TOOLS> {}

/** Options of `guardTool`: the shared ones and the tool's own settings. */
export interface GuardToolOptions<INPUT> extends SpendguardOptions {
  /** The billing-relevant input fields (and `context.<name>` entries). Default: every field and the whole context. */
  fields?: readonly CheckpointField<INPUT>[];
  /** A checkpoint key (e.g. the order id) instead of the content hash. Default: the content hash. */
  idempotencyKey?: CheckpointKeyFunction<INPUT>;
  /** The vendor call(s) the tool's input will make, for approval rules (see `GuardToolsOptions.approval`). */
  approval?: ApprovalFunction<INPUT>;
}

/** What `StructuredTool.call` calls: the tool's own work, with its run manager and config. */
type CallFunction = (arg: unknown, runManager?: RunManagerLike, config?: LangGraphConfig) => Promise<unknown>;
interface RunManagerLike {
  runId?: string;
}
interface CallableTool {
  name: string;
  schema?: unknown;
  responseFormat?: string;
  _call: CallFunction;
}

/** The tools of one `guardTools` / `guardTool` call: their run keys, approvals and who maps what. */
interface Toolset {
  guard: Guard;
  runKeys: RunKeys;
  asks: ApprovalAsks;
  /** The toolset's tools with an approval mapping, by name. */
  approvals: Map<string, { tool: CallableTool; approval: ApprovalFunction<never> }>;
}

/** Marks a tool wrapped by this package (every installed copy), so it is never wrapped twice. */
const GUARDED = Symbol.for('spendguard.langchain.guardedTool');

/** Whether a tool was returned by `guardTool` / `guardTools` (from any installed copy of this package). */
export function isGuardedTool(tool: unknown): boolean {
  return tool !== null && typeof tool === 'object' && (tool as Record<symbol, unknown>)[GUARDED] === true;
}

/**
 * Wrap LangChain tools so each execution runs exactly once per input, bound to a run key (governed
 * clients inside the tool use it), with refusals as `ToolMessage`s (status `error`) the model
 * reads. Returns the same tools (same class, name, description, schema): use them in LangGraph's
 * `ToolNode`, `createAgent` or a prebuilt agent unchanged. A tool already guarded is returned as it is.
 */
export function guardTools<TOOLS extends readonly GuardableTool[]>(
  tools: TOOLS,
  options: GuardToolsOptions<TOOLS>,
): TOOLS {
  const toolset = toolsetOf(options);
  const perTool = (record: object | undefined, name: string) =>
    record && Object.hasOwn(record, name) ? (record as Record<string, never>)[name] : undefined;
  return tools.map((tool) =>
    wrap(tool, toolset, options, {
      fields: perTool(options.fields, tool.name),
      idempotencyKey: perTool(options.idempotencyKey, tool.name),
      approval: perTool(options.approval, tool.name),
    }),
  ) as unknown as TOOLS;
}

/** Wrap one LangChain tool (see `guardTools`). */
export function guardTool<TOOL extends GuardableTool>(
  tool: TOOL,
  options: GuardToolOptions<ToolInput<TOOL>>,
): TOOL {
  return wrap(tool, toolsetOf(options), options, {
    fields: options.fields,
    idempotencyKey: options.idempotencyKey as CheckpointKeyFunction<never> | undefined,
    approval: options.approval as ApprovalFunction<never> | undefined,
  });
}

function toolsetOf(options: SpendguardOptions): Toolset {
  const runKeys = new RunKeys({
    guard: options.guard,
    key: options.key,
    runId: options.runId,
    runIdPrefix: 'langchain-',
    derive: options.runKey,
  });
  return { guard: options.guard, runKeys, asks: new ApprovalAsks(), approvals: new Map() };
}

function wrap<TOOL extends GuardableTool>(
  tool: TOOL,
  toolset: Toolset,
  options: SpendguardOptions,
  own: Pick<GuardedToolSettings, 'fields' | 'idempotencyKey' | 'approval'>,
): TOOL {
  if (isGuardedTool(tool)) return tool;
  const original = tool as unknown as CallableTool;
  const work = original._call;
  if (typeof work !== 'function') {
    throw new SpendguardError(
      'request_invalid',
      `guardTool: "${String(tool.name)}" is not a LangChain StructuredTool (it has no _call to wrap)`,
    );
  }
  const settings: GuardedToolSettings = {
    guard: options.guard,
    runKeys: toolset.runKeys,
    name: original.name,
    options,
    ...own,
    asks: toolset.asks,
  };
  if (own.approval) toolset.approvals.set(original.name, { tool: original, approval: own.approval });

  // The same object underneath: its class, fields, schema and `invoke` are the tool's own; only
  // `_call` (what `StructuredTool.call` runs after parsing the input) goes through spendguard.
  const guarded = Object.create(original) as CallableTool;
  Object.defineProperty(guarded, GUARDED, { value: true });
  guarded._call = async (arg, runManager, config = {}) => {
    const binding = callBinding(config, {
      runId: options.runId,
      agentId: options.agentId,
      defaultRunId: toolset.runKeys.defaultRunId,
    });
    let live: unknown;
    const outcome = await guardedCall(settings, {
      input: arg,
      config,
      binding,
      traceId: runManager?.runId,
      plan: () => taskPlan(toolset, config, binding),
      run: async () => {
        // The tool's own object runs its work: state it keeps on itself stays there.
        const output = await work.call(original, arg, runManager, config);
        if (isCommand(output)) live = output;
        return storedOutput(output, messageCallId(config));
      },
    });
    if (outcome.kind === 'stop') {
      stopRun(outcome.error, config, { abortController: options.abortController, drain: true });
    }
    return delivered(outcome, live, { tool: original, config, binding });
  };
  return guarded as unknown as TOOL;
}

/**
 * The tool's return value for an outcome, as `StructuredTool.call` formats it: the result as the
 * tool returned it (a `ToolMessage` or `Command` it returned, rebuilt for this call on a replay);
 * a refusal as a `ToolMessage` with status `error`, or as the refusal itself when the tool was
 * invoked without a tool call (then there is no message to answer).
 */
function delivered(
  outcome: ToolCallOutcome,
  live: unknown,
  call: { tool: CallableTool; config: LangGraphConfig; binding: CallBinding },
): unknown {
  const toolCallId = messageCallId(call.config);
  const name = call.tool.name;
  let value: unknown;
  if (outcome.kind === 'result') {
    const message = storedMessage(outcome.value);
    if (live !== undefined) value = live;
    else if (!message) return outcome.value;
    else
      value = toolCallId === undefined ? message.content : resultMessage(outcome.value, { toolCallId, name });
  } else {
    value =
      toolCallId === undefined
        ? outcome.refusal
        : refusalMessage(outcome.refusal, {
            toolCallId,
            name,
            runId: call.binding.runId,
            stopped: outcome.kind === 'stop',
          });
  }
  // A `content_and_artifact` tool returns a pair; a message stands for the whole output.
  return call.tool.responseFormat === 'content_and_artifact' ? [value, undefined] : value;
}

/** The id a `ToolMessage` for this call must answer: the tool call's, exactly as the model sent it. */
function messageCallId(config: LangGraphConfig): string | undefined {
  const id = config.toolCall?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * The calls of this call's task that need a human's approval, in the model's order: the pending
 * calls of the last AI message in the task's state that go to a tool of this toolset with an
 * approval mapping (their input parsed by the tool's schema), whose vendor calls the policy's
 * approval rule matches. A call the state does not show is planned on its own.
 */
async function taskPlan(toolset: Toolset, config: LangGraphConfig, binding: CallBinding) {
  const self = config.toolCall as { id?: unknown; name?: unknown; args?: unknown } | undefined;
  let calls = pendingToolCalls((config as { state?: unknown }).state);
  if (!calls.some((c) => c.id === self?.id) && typeof self?.id === 'string') {
    calls = [{ id: self.id, name: String(self.name), args: self.args }];
  }
  const asks = await Promise.all(
    calls.map(async (c) => {
      const mapped = toolset.approvals.get(c.name);
      if (!mapped) return undefined;
      const parsed = await parsedArgs(mapped.tool.schema, c.args);
      if (!parsed.ok) return undefined;
      return approvalAsk(toolset, mapped.approval, {
        name: c.name,
        args: parsed.value,
        toolCallId: c.id,
        runId: binding.runId,
      });
    }),
  );
  return asks.filter((a) => a !== undefined);
}
