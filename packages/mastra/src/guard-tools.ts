import { validateToolInput } from '@mastra/core/tools';
import {
  type DeriveOptions,
  type Guard,
  guardToolCall,
  isToolRefusal,
  policyApprovalReason,
  RunKeys,
  SpendguardError,
  type ToolCallKeyContext,
  type ToolCallOutcome,
  type ToolCallSettings,
} from '@spendguard/core';
import {
  type ApprovalFunction,
  type ApprovalSuspendPayload,
  type ApprovedToolCall,
  approvalAnswerOf,
  requestsOf,
} from './approval.ts';
import { approvedInAgentRun } from './approval-record.ts';
import { auditTraceId } from './audit-trace-id.ts';
import { checkpointContextOf } from './checkpoint-context.ts';
import { idOf, type MastraCall, mastraCallOf } from './mastra-call.ts';
import { redactor, scrubbedError } from './scrubbed-error.ts';
import { refusalTripWire } from './tripwire.ts';

/** What a custom checkpoint key is computed from, besides the tool's input. */
export interface CheckpointKeyContext extends ToolCallKeyContext {
  /** Everything Mastra said about the call: its site, ids, thread, resource and request context. */
  call: MastraCall;
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
   * The run the calls belong to (audit rows, run key, run caps). A string puts every call of these
   * tools in that run; a function picks it per call from what Mastra says about it (e.g.
   * `({ threadId }) => threadId`, one run per conversation). Default: Mastra's run — the
   * workflow run's id in a workflow step, the agent run's id in an agent (one per `generate()` /
   * `stream()`, kept by `approveToolCall`), else one id generated per `guardTools` call.
   */
  runId?: string | ((call: MastraCall) => string | undefined);
  /** The agent's name on every audit row. Default: the Mastra agent's id, or the workflow's id. */
  agentId?: string;
  /**
   * Whose duplicates count: `'root'` deduplicates across every run of the root key (a retried
   * generation, a resumed thread, a re-run workflow); `'run'` only within one run. Default: `'root'`.
   */
  scope?: 'root' | 'run';
  /**
   * Aborted with a `RunStoppedError` when the run's vault key is revoked or expired (the kill
   * switch). Pass its `signal` as `abortSignal` to `agent.generate()` / `agent.stream()` so no
   * further step runs. Default: none — use `spendguardKillSwitch()` in the agent's
   * `inputProcessors`, or the tool only returns the refusal. (A workflow step always ends its run.)
   */
  abortController?: AbortController;
  /** How each derived run key narrows the root key's policy (`caps`, `operations`, `ratePerMinute`, `ttl`). Default: not at all. */
  runKey?: Omit<DeriveOptions, 'runId'>;
  /**
   * Who approved a tool call, for the audit rows of the vendor calls it let through (`approved by
   * …`), e.g. the signed-in user of the request. Mastra's approval names no one. Default:
   * `mastra tool approval <toolCallId>` (agents), `mastra workflow resume <runId>` (workflows).
   */
  approver?: (approval: ApprovedToolCall) => string | undefined;
}

/** An input field, or `context.<name>` for a request context entry (or `context.resourceId`). */
export type CheckpointField<INPUT> = (keyof INPUT & string) | `context.${string}`;

/** The input type of a Mastra tool, read from its `execute`. */
export type ToolInput<TOOL> = TOOL extends { execute?: (input: infer I, ...rest: never[]) => unknown }
  ? I
  : unknown;

/** The parts of a Mastra tool the wrapper reads or replaces, typed structurally (any installed copy of Mastra). */
export interface MastraToolLike {
  id: string;
  inputSchema?: unknown;
  requestContextSchema?: unknown;
  requireApproval?: unknown;
  toModelOutput?: unknown;
  // biome-ignore lint/suspicious/noExplicitAny: Mastra's execute is typed per tool; any tool fits here.
  execute?: (input: any, context: any) => Promise<unknown>;
}

/** Options of `guardTools`: the shared ones, and per-tool settings keyed as in the tools record. */
export interface GuardToolsOptions<TOOLS extends Record<string, MastraToolLike>>
  extends GuardToolsBaseOptions {
  /**
   * The billing-relevant input fields of each tool: only these make its checkpoint key, so a
   * reworded free-text field does not make a new charge. `context.<name>` fields name request
   * context entries the tool reads (and `context.resourceId`). Default: every input field, the
   * request context entries the tool's `requestContextSchema` declares, and the agent's `resourceId`.
   */
  fields?: { [NAME in keyof TOOLS]?: readonly CheckpointField<ToolInput<TOOLS[NAME]>>[] };
  /** A checkpoint key per tool (e.g. the order id) instead of the content hash. Default: the content hash. */
  idempotencyKey?: { [NAME in keyof TOOLS]?: CheckpointKeyFunction<ToolInput<TOOLS[NAME]>> };
  /**
   * Per tool, the vendor call(s) its input will make (`{ vendor, method, path, params }`): a call
   * the policy's approval rule (`approval.above`) matches then asks Mastra's own approval before
   * the tool runs — `requireApproval` in an agent, `suspend()` in a workflow step — and once
   * approved runs with the approval. Default: none — such a call runs the tool, and its vendor
   * call is refused until approved in core.
   */
  approval?: { [NAME in keyof TOOLS]?: ApprovalFunction<ToolInput<TOOLS[NAME]>> };
}

/** Options of `guardTool`: the shared ones and the tool's own settings. */
export interface GuardToolOptions<INPUT> extends GuardToolsBaseOptions {
  /** The tool's name on the checkpoint and the audit rows. Default: its `id`. */
  name?: string;
  /** The billing-relevant input fields and `context.<name>` entries (see `GuardToolsOptions.fields`). */
  fields?: readonly CheckpointField<INPUT>[];
  /** A checkpoint key (e.g. the order id) instead of the content hash. Default: the content hash. */
  idempotencyKey?: CheckpointKeyFunction<INPUT>;
  /** The vendor call(s) the tool's input will make, for approval rules (see `GuardToolsOptions.approval`). Default: none. */
  approval?: ApprovalFunction<INPUT>;
}

/**
 * Marks a guarded tool (not enumerable, shared by every installed copy of this package): wrapping
 * it again would checkpoint the same call inside its own checkpoint and wait for itself.
 */
const GUARDED = Symbol.for('spendguard.mastra.guardedTool');

/** Whether a tool was returned by `guardTool` / `guardTools`. */
export function isGuardedTool(tool: unknown): boolean {
  return tool !== null && typeof tool === 'object' && (tool as Record<symbol, unknown>)[GUARDED] === true;
}

/**
 * Wrap a record of Mastra tools (`createTool()`) so each execution runs exactly once per input,
 * bound to a run key (governed clients inside the tool use it), with refusals as outputs the
 * model reads. Returns the same record of Mastra tools: give it to an `Agent`, or make workflow
 * steps of them with `createStep(tool)`. Tools without `execute` are returned as they are.
 */
export function guardTools<TOOLS extends Record<string, MastraToolLike>>(
  tools: TOOLS,
  options: GuardToolsOptions<TOOLS>,
): TOOLS {
  const runKeys = runKeysOf(options);
  const guarded: Record<string, unknown> = {};
  for (const [name, tool] of Object.entries(tools)) {
    guarded[name] = wrap(tool, {
      ...options,
      name: tool.id,
      fields: options.fields?.[name],
      idempotencyKey: options.idempotencyKey?.[name] as CheckpointKeyFunction<unknown> | undefined,
      approval: options.approval?.[name] as ApprovalFunction<unknown> | undefined,
      runKeys,
    });
  }
  return guarded as TOOLS;
}

/** Wrap one Mastra tool (see `guardTools`). */
export function guardTool<TOOL extends MastraToolLike>(
  tool: TOOL,
  options: GuardToolOptions<ToolInput<TOOL>>,
): TOOL {
  return wrap(tool, {
    ...options,
    name: options.name ?? tool.id,
    idempotencyKey: options.idempotencyKey as CheckpointKeyFunction<unknown> | undefined,
    approval: options.approval as ApprovalFunction<unknown> | undefined,
    runKeys: runKeysOf(options),
  });
}

interface WrapSettings extends GuardToolsBaseOptions {
  name: string;
  runKeys: RunKeys;
  fields?: readonly string[] | undefined;
  idempotencyKey?: CheckpointKeyFunction<unknown> | undefined;
  approval?: ApprovalFunction<unknown> | undefined;
}

type RequireApproval = (input: unknown, ctx?: { requestContext?: Record<string, unknown> }) => unknown;

function runKeysOf(options: GuardToolsBaseOptions): RunKeys {
  return new RunKeys({
    guard: options.guard,
    key: options.key,
    ...(typeof options.runId === 'string' && { runId: options.runId }),
    runIdPrefix: 'mastra-',
    derive: options.runKey,
  });
}

function wrap<TOOL extends MastraToolLike>(tool: TOOL, settings: WrapSettings): TOOL {
  const run = tool.execute;
  if (typeof run !== 'function') return tool;
  if (isGuardedTool(tool)) {
    throw new SpendguardError(
      'operation_invalid',
      `tool "${tool.id}" is already guarded: wrap the original tool once (a call would wait for its own checkpoint)`,
    );
  }
  const redact = redactor((text) => settings.guard.redact(text));

  const execute = async (input: unknown, context: unknown): Promise<unknown> => {
    const call = mastraCallOf(settings.name, context);
    // Mastra validates an agent's tool input first; a workflow step or a direct call may not have.
    const valid = validateToolInput(tool.inputSchema as never, input, tool.id);
    if (valid.error) return valid.error;
    const runId = runIdOf(settings, call);
    let toolContext = context;
    let approvedBy: string | undefined;
    if (settings.approval) {
      const gate = await approvalGate(settings, valid.data, call, context, runId);
      if (gate.kind === 'suspended') return undefined;
      if (gate.kind === 'declined') {
        throw refusalTripWire(
          {
            code: 'approval_declined',
            reason: `the approver declined it${gate.reason ? `: ${gate.reason}` : ''}`,
          },
          { toolName: settings.name, runId },
        );
      }
      approvedBy = gate.approvedBy;
      toolContext = gate.context ?? context;
    }
    let thrown: { error: unknown } | undefined;
    const outcome = await guardToolCall(
      {
        ...coreSettings(settings, call),
        agentId: settings.agentId ?? call.agentId ?? call.workflowId,
      },
      {
        input: valid.data,
        toolCallId: call.toolCallId,
        runId,
        context: checkpointContextOf(tool, call, settings.fields),
        approvedBy,
        // The memory's thread and resource (and Mastra's trace) on the audit rows.
        traceId: auditTraceId(call, (text) => settings.guard.redact(text) !== text),
        run: async () => {
          try {
            return await run.call(tool, input, toolContext);
          } catch (error) {
            thrown = { error };
            throw error;
          }
        },
      },
    );
    return deliver(outcome, { call, runId, settings, thrown, redact });
  };

  const guarded = copyOf(tool);
  guarded.execute = execute;
  const own = tool.toModelOutput;
  if (typeof own === 'function') {
    // A refusal is not the tool's own output: the model gets it as JSON, not through the converter.
    guarded.toModelOutput = (output: unknown) =>
      isToolRefusal(output) ? { type: 'json', value: output } : own.call(tool, output);
  }
  if (settings.approval) guarded.requireApproval = agentRequireApproval(settings, tool);
  Object.defineProperty(guarded, GUARDED, { value: true });
  return guarded;
}

/**
 * A copy of the tool with the same prototype and own properties (Mastra's tool marker, schemas,
 * hooks), so Mastra takes it as the `Tool` it was, in an agent and in `createStep(tool)`.
 */
function copyOf<TOOL extends object>(tool: TOOL): TOOL & Record<string, unknown> {
  const copy = Object.create(Object.getPrototypeOf(tool)) as TOOL & Record<string, unknown>;
  for (const key of Reflect.ownKeys(tool)) {
    Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(tool, key) as PropertyDescriptor);
  }
  return copy;
}

/** Core's settings for one call: the user's key function sees what Mastra said about the call. */
function coreSettings(settings: WrapSettings, call: MastraCall): ToolCallSettings {
  const user = settings.idempotencyKey;
  return {
    guard: settings.guard,
    runKeys: settings.runKeys,
    name: settings.name,
    fields: settings.fields,
    scope: settings.scope,
    ...(user && { idempotencyKey: (input, key) => user(input, { ...key, call }) }),
  };
}

/** The run of a call: the `runId` option's (a string, or the function's answer), else Mastra's, else the toolset's. */
function runIdOf(settings: WrapSettings, call: MastraCall): string {
  const option = settings.runId;
  if (typeof option === 'string') return option;
  const chosen = typeof option === 'function' ? idOf(option(call)) : undefined;
  return chosen ?? call.runId ?? settings.runKeys.defaultRunId;
}

/**
 * Mastra's way to deliver an outcome. In an agent (or a direct call) the result or the refusal is
 * the tool's output — never a thrown error, which Mastra turns into a `tool-error` the model
 * retries; a stop also aborts the caller's `abortController`. In a workflow step, with no model to
 * read a refusal, a refusal or a stop ends the run as a `tripwire`; a tool's own failure is
 * rethrown (redacted), so the step's `retries` re-run it — its vendor calls replay, once.
 */
function deliver(
  outcome: ToolCallOutcome,
  how: {
    call: MastraCall;
    runId: string;
    settings: WrapSettings;
    thrown: { error: unknown } | undefined;
    redact: (text: string) => string;
  },
): unknown {
  if (outcome.kind === 'result') return outcome.value;
  const { call, runId, settings, thrown, redact } = how;
  if (outcome.kind === 'stop') {
    const controller = settings.abortController;
    if (controller && !controller.signal.aborted) controller.abort(outcome.error);
  }
  // A tool's error message is in the reason: it must not carry a vault token to the model.
  const reason = redact(outcome.refusal.reason);
  const refusal = reason === outcome.refusal.reason ? outcome.refusal : { ...outcome.refusal, reason };
  if (call.site !== 'workflow') return refusal;
  const code = refusal.code;
  if (outcome.kind === 'refusal' && thrown && (code === 'vendor_error' || code === 'outcome_unknown')) {
    throw scrubbedError(thrown.error, redact);
  }
  throw refusalTripWire(refusal, { toolName: settings.name, runId });
}

/** What the approval gate decided before a call runs. */
type Gate =
  | { kind: 'run'; approvedBy?: string; context?: unknown }
  | { kind: 'suspended' }
  | { kind: 'declined'; reason: string | undefined };

/**
 * The policy's approval rule, before the tool runs. In an agent Mastra has already asked
 * (`requireApproval`); the call runs now, so a human approved it when Mastra suspended the run
 * for it. In a workflow step the step suspends with the reason, and `run.resume()` answers.
 */
async function approvalGate(
  settings: WrapSettings,
  input: unknown,
  call: MastraCall,
  context: unknown,
  runId: string,
): Promise<Gate> {
  const approval = settings.approval as ApprovalFunction<unknown>;
  if (call.site === 'agent') {
    if (!(await approvedInAgentRun(context, call))) return { kind: 'run' };
    const approvedBy = approverOf(settings, { via: 'agent', call, runId, reason: undefined });
    return { kind: 'run', approvedBy };
  }
  if (call.site !== 'workflow') return { kind: 'run' };
  const reason = await policyApprovalReason(settings, { runId, requests: requestsOf(approval, input) });
  if (reason === undefined) return { kind: 'run' };
  const workflow = (context as { workflow?: { resumeData?: unknown; suspend?: unknown } }).workflow;
  const answer = approvalAnswerOf(workflow?.resumeData);
  if (answer?.approved === false) return { kind: 'declined', reason: answer.reason };
  if (answer?.approved === true) {
    const approvedBy = approverOf(settings, { via: 'workflow', call, runId, reason: answer.reason });
    // The answer was spendguard's: the tool does not get it as resume data of its own.
    const { resumeData: _resumeData, ...rest } = context as Record<string, unknown>;
    return {
      kind: 'run',
      approvedBy,
      context: { ...rest, workflow: { ...workflow, resumeData: undefined } },
    };
  }
  if (typeof workflow?.suspend !== 'function') return { kind: 'run' };
  const payload: ApprovalSuspendPayload = { reason, toolName: settings.name, args: input };
  await (workflow.suspend as (payload: ApprovalSuspendPayload) => Promise<void>)(payload);
  return { kind: 'suspended' };
}

/** Who approved, for the audit rows: the `approver` option's answer, else Mastra's ids. */
function approverOf(
  settings: WrapSettings,
  approval: { via: 'agent' | 'workflow'; call: MastraCall; runId: string; reason: string | undefined },
): string {
  const { via, call, runId, reason } = approval;
  const named = settings.approver?.({
    toolName: settings.name,
    via,
    toolCallId: call.toolCallId,
    runId,
    reason,
    requestContext: call.requestContext,
  });
  if (named) return named;
  return via === 'agent' ? `mastra tool approval ${call.toolCallId}` : `mastra workflow resume ${runId}`;
}

/**
 * The tool's `requireApproval` in an agent: its own (a boolean or a function) OR-ed with the
 * policy's approval rule for the vendor call(s) the input maps to, asked of the toolset's run
 * key (Mastra says nothing of the run here). A call the key cannot make needs no approval:
 * `execute` then reports the refusal.
 */
function agentRequireApproval(settings: WrapSettings, tool: MastraToolLike): RequireApproval {
  const own = tool.requireApproval;
  const approval = settings.approval as ApprovalFunction<unknown>;
  return async (input, ctx) => {
    if (typeof own === 'function' ? await (own as RequireApproval).call(tool, input, ctx) : own === true) {
      return true;
    }
    // Mastra asks before validating the model's input: the mapping gets it with defaults applied.
    const valid = validateToolInput(tool.inputSchema as never, input, tool.id);
    if (valid.error) return false;
    const runId = typeof settings.runId === 'string' ? settings.runId : settings.runKeys.defaultRunId;
    const reason = await policyApprovalReason(settings, {
      runId,
      requests: requestsOf(approval, valid.data),
    });
    return reason !== undefined;
  };
}
