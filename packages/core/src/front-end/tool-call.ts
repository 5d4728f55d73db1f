import { RunStoppedError, SpendguardError } from '../errors.ts';
import type { Guard } from '../guard.ts';
import type { RunKeys } from './run-keys.ts';
import { stopsTheRun, type ToolRefusal, toolRefusal, unboundRunRefusal } from './tool-refusal.ts';

/** What a custom checkpoint key is computed from, besides the tool's input. */
export interface ToolCallKeyContext {
  /** The tool's name. */
  toolName: string;
  /** The framework's id of this tool call, when it has one. */
  toolCallId: string | undefined;
  /** The run this call belongs to. */
  runId: string;
  /** The framework's per-call context object, as the tool receives it. */
  context: unknown;
}

/** The settings of one wrapped tool: the same for each of its calls. */
export interface ToolCallSettings {
  /** The guard that checkpoints, caps and audits the call. */
  guard: Guard;
  /** The run keys the call is bound to (one per run id, derived from the root key). */
  runKeys: RunKeys;
  /** The tool's name, as the model sees it. Part of the checkpoint key and the audit rows. */
  name: string;
  /** The agent's name on every audit row. */
  agentId?: string | undefined;
  /** The billing-relevant input fields (and `context.<name>` entries) that make the checkpoint key. Default: all. */
  fields?: readonly string[] | undefined;
  /** Whose duplicates count: the root key's (default) or only this run's. */
  scope?: 'root' | 'run' | undefined;
  /** A business key (an order id) instead of the content hash; `undefined` falls back to the hash. */
  idempotencyKey?: ((input: unknown, call: ToolCallKeyContext) => string | undefined) | undefined;
}

/** One call of the tool, as the framework hands it over. */
export interface ToolCall {
  /** The tool's input. */
  input: unknown;
  /** The framework's id of this tool call. */
  toolCallId?: string | undefined;
  /** The run this call belongs to. Default: the run keys' default run id. */
  runId?: string | undefined;
  /**
   * What the tool reads besides its input (the framework's per-call context object): part of the
   * checkpoint, so two customers' calls never share one. Its `runId` is left out.
   */
  context?: unknown;
  /** Who approved this call in the framework's own approval flow. Only from the app, never from model output. */
  approvedBy?: string | undefined;
  /**
   * The framework's trace of this call (a LangSmith run id, an OpenAI Agents trace id), on its
   * audit rows and those of the vendor calls inside it, so a trace joins the audit log. Default: none.
   */
  traceId?: string | undefined;
  /** The tool itself; it runs bound to the run (governed clients inside find its key). */
  run: () => Promise<unknown>;
}

/**
 * What became of a tool call; the adapter delivers it in its framework's way:
 * - `result`: the tool ran (or a duplicate's stored result was replayed): give the model `value`;
 * - `refusal`: it was refused, is waiting for approval, or failed: give the model `refusal`;
 * - `stop`: the run's key can no longer act: give the model `refusal` and end the run with `error`.
 */
export type ToolCallOutcome =
  | { kind: 'result'; value: unknown }
  | { kind: 'refusal'; refusal: ToolRefusal }
  | { kind: 'stop'; refusal: ToolRefusal; error: RunStoppedError };

/**
 * One tool call, from the framework's hands to an outcome: derive the run key, checkpoint the
 * whole execution (`guard.executeTool`, the tool bound to the run), and turn the decision into a
 * result, a refusal for the model, or a stop. Rejects only for what is not a decision about the
 * call: an error deriving the run key other than `key_invalid` or `store_unavailable`.
 */
export async function guardToolCall(settings: ToolCallSettings, call: ToolCall): Promise<ToolCallOutcome> {
  const { guard, runKeys, name } = settings;
  const runId = call.runId ?? runKeys.defaultRunId;
  let key: string;
  try {
    key = await runKeys.token(runId);
  } catch (error) {
    return unboundRun(error);
  }
  const idempotencyKey = settings.idempotencyKey?.(call.input, {
    toolName: name,
    toolCallId: call.toolCallId,
    runId,
    context: call.context,
  });
  const decision = await guard.executeTool(
    {
      key,
      tool: name,
      input: call.input,
      runId,
      // Whose call it is (e.g. the signed-in customer in the context) is part of what the checkpoint binds.
      context: call.context,
      ...(call.toolCallId !== undefined && { toolCallId: call.toolCallId }),
      ...(settings.agentId !== undefined && { agentId: settings.agentId }),
      ...(settings.fields && { fields: settings.fields }),
      ...(settings.scope && { scope: settings.scope }),
      ...(idempotencyKey !== undefined && { idempotencyKey }),
      ...(call.approvedBy !== undefined && { approvedBy: call.approvedBy }),
      ...(call.traceId !== undefined && { traceId: call.traceId }),
    },
    // executeTool binds the run (key, runId, toolCallId, agentId, approvedBy) around the tool itself.
    call.run,
  );
  if (decision.decision === 'executed' || decision.decision === 'replayed') {
    return { kind: 'result', value: decision.result };
  }
  // Every decision but executed and replayed has a refusal.
  const refusal = toolRefusal(decision) as ToolRefusal;
  if (stopsTheRun(decision)) {
    return {
      kind: 'stop',
      refusal,
      error: new RunStoppedError(decision.message, { code: decision.code, decision }),
    };
  }
  return { kind: 'refusal', refusal };
}

/** No run key could be derived: the root key cannot act (the run stops), or the store is down. */
function unboundRun(error: unknown): ToolCallOutcome {
  const refusal = SpendguardError.isInstance(error) ? unboundRunRefusal(error) : undefined;
  if (!refusal) throw error;
  if (refusal.code !== 'key_invalid') return { kind: 'refusal', refusal };
  const stopped = new RunStoppedError(refusal.reason, { code: 'key_invalid', cause: error });
  return { kind: 'stop', refusal, error: stopped };
}
