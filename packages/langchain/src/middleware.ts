import { ToolMessage } from '@langchain/core/messages';
import { v7 as uuidv7 } from '@langchain/core/utils/uuid';
import { getConfig, isCommand } from '@langchain/langgraph';
import { RunKeys, SpendguardError, type ToolRefusal, toolRefusal } from '@spendguard/core';
import type { AgentMiddleware } from 'langchain';
import { ApprovalAsks } from './approval-asks.ts';
import { callBinding, type LangGraphConfig } from './call-binding.ts';
import { isBubbleUp } from './graph-errors.ts';
import { isGuardedTool } from './guard-tools.ts';
import { approvalAsk, type GuardedToolSettings, guardedCall } from './guarded-call.ts';
import type { SpendguardOptions } from './options.ts';
import { parsedArgs } from './pending-calls.ts';
import { refusalMessage } from './refusal-message.ts';
import { runCanAct, runStopOf, stopRun } from './run-stop.ts';
import { resultMessage, storedOutput } from './stored-output.ts';
import type { PerToolOptions, ToolEntry } from './tool-types.ts';
import { markRefusal } from './vendor-refusal.ts';

/**
 * Options of `spendguardMiddleware`: the shared ones, and per-tool settings keyed by tool name.
 * Listing the agent's tools in `tools` types those settings by each tool's input.
 */
export interface SpendguardMiddlewareOptions<TOOLS extends readonly ToolEntry[] = readonly ToolEntry[]>
  extends SpendguardOptions,
    PerToolOptions<TOOLS> {
  /** Govern only these tools (tools or names). Default: every tool of the agent. */
  tools?: TOOLS;
}

/** The tool call of a `wrapToolCall` request, as the middleware reads it. */
interface ToolCallRequestLike {
  toolCall: { id?: string | undefined; name: string; args: unknown };
  tool?:
    | { name: string; schema?: unknown; invoke(input: unknown, config?: unknown): Promise<unknown> }
    | undefined;
  runtime: { configurable?: Record<string, unknown> | undefined; context?: unknown };
}
type Handler = (request: ToolCallRequestLike) => Promise<unknown>;

/** `createMiddleware`'s brand (a `Symbol.for`), so `langchain` is needed only by apps that use `createAgent`. */
const MIDDLEWARE_BRAND = Symbol.for('AgentMiddleware');

/**
 * Agent middleware for `createAgent`: one line in `middleware: [...]` governs every tool call of
 * the agent (through `wrapToolCall`) — checkpointed, bound to the run's key, refused as a
 * `ToolMessage` with status `error` — and ends the run before the next model call once the run's
 * key is revoked or expired (a `beforeModel` hook that jumps to the end, also when the thread is
 * resumed later). List it before `toolRetryMiddleware`: a retried call then runs inside one
 * checkpoint, and the vendor calls its first attempt made are replayed, not made again.
 */
export function spendguardMiddleware<TOOLS extends readonly ToolEntry[] = readonly ToolEntry[]>(
  options: SpendguardMiddlewareOptions<TOOLS>,
): AgentMiddleware {
  const runKeys = new RunKeys({
    guard: options.guard,
    key: options.key,
    runId: options.runId,
    runIdPrefix: 'langchain-',
    derive: options.runKey,
  });
  const asks = new ApprovalAsks();
  const only = options.tools && new Set(options.tools.map((t) => (typeof t === 'string' ? t : t.name)));
  const perTool = (record: object | undefined, name: string) =>
    record && Object.hasOwn(record, name) ? (record as Record<string, never>)[name] : undefined;
  const settingsOf = (name: string): GuardedToolSettings => ({
    guard: options.guard,
    runKeys,
    name,
    options,
    fields: perTool(options.fields, name),
    idempotencyKey: perTool(options.idempotencyKey, name),
    approval: perTool(options.approval, name),
    asks,
  });

  const wrapToolCall = async (request: ToolCallRequestLike, handler: Handler): Promise<unknown> => {
    const { toolCall, tool } = request;
    const config: LangGraphConfig = getConfig() ?? {
      configurable: request.runtime.configurable,
      context: request.runtime.context,
    };
    // Tools it does not govern (or already guarded by `guardTools`) run as they would without it.
    if ((only && !only.has(toolCall.name)) || isGuardedTool(tool)) return asDefault(handler, request);
    // Arguments the tool's schema refuses never run it: LangChain tells the model to fix them.
    const parsed = await parsedArgs(tool?.schema, toolCall.args);
    if (!parsed.ok) return handler(request);
    const input = parsed.value;
    const settings = settingsOf(toolCall.name);
    const toolCallId = toolCall.id ?? '';
    const binding = callBinding(
      config,
      { runId: options.runId, agentId: options.agentId, defaultRunId: runKeys.defaultRunId },
      toolCall.id,
    );
    try {
      // The tool's LangChain run id, chosen here so the audit row can carry it (only when traced).
      const traceId = tool && (config as { callbacks?: unknown }).callbacks ? uuidv7() : undefined;
      const governed = tool && governedTool(tool, traceId);
      let live: unknown;
      const outcome = await guardedCall(settings, {
        input,
        config,
        binding,
        traceId,
        plan: async () => {
          if (!settings.approval) return [];
          const ask = await approvalAsk(settings, settings.approval, {
            name: toolCall.name,
            args: input,
            toolCallId,
            runId: binding.runId,
          });
          return ask ? [ask] : [];
        },
        run: async () => {
          const output = await handler({ ...request, tool: governed });
          if (isCommand(output)) live = output;
          return storedOutput(output, toolCall.id);
        },
      });
      const call = { toolCallId, name: toolCall.name, runId: binding.runId };
      switch (outcome.kind) {
        case 'result':
          return live ?? resultMessage(outcome.value, call);
        case 'refusal':
          return refusalMessage(outcome.refusal, { ...call, stopped: false });
        case 'stop':
          stopRun(outcome.error, config, { abortController: options.abortController, drain: false });
          return refusalMessage(outcome.refusal, { ...call, stopped: true });
      }
    } catch (error) {
      // An interrupt (the approval question) or a drain is LangGraph's own: it must reach the graph.
      if (isBubbleUp(error)) throw error;
      const refusal = failure(
        error,
        options.guard.redact(error instanceof Error ? error.message : String(error)),
      );
      return refusalMessage(refusal, {
        toolCallId,
        name: toolCall.name,
        runId: binding.runId,
        stopped: false,
      });
    }
  };

  const beforeModel = {
    canJumpTo: ['end'] as const,
    hook: async (
      state: { messages: unknown[] },
      runtime: { configurable?: Record<string, unknown> | undefined },
    ): Promise<{ jumpTo: 'end' } | undefined> => {
      if (!runStopOf(state.messages)) return undefined;
      const { runId } = callBinding(
        { configurable: runtime.configurable },
        {
          runId: options.runId,
          defaultRunId: runKeys.defaultRunId,
        },
      );
      return (await runCanAct(options.guard, runKeys, runId)) ? undefined : { jumpTo: 'end' };
    },
  };

  return {
    [MIDDLEWARE_BRAND]: true,
    name: 'spendguardMiddleware',
    wrapToolCall,
    beforeModel,
  } as unknown as AgentMiddleware;
}

/**
 * A tool that is not governed, run as `createAgent` runs tools without any `wrapToolCall`
 * middleware: its error becomes a `ToolMessage` the model reads (with one, an error would reject
 * the whole `invoke`). Interrupts and drains still reach the graph.
 */
async function asDefault(handler: Handler, request: ToolCallRequestLike): Promise<unknown> {
  try {
    return await handler(request);
  } catch (error) {
    if (isBubbleUp(error)) throw error;
    return new ToolMessage({
      content: `${error}\n Please fix your mistakes.`,
      tool_call_id: request.toolCall.id ?? '',
      name: request.toolCall.name,
      status: 'error',
    });
  }
}

/**
 * The tool as the inner handlers (retry middleware, the `ToolNode`) run it: its first invocation
 * under the LangChain run id the audit row carries (retries get their own), and a vendor refusal
 * it throws marked not retryable.
 */
function governedTool<TOOL extends { invoke(input: unknown, config?: unknown): Promise<unknown> }>(
  tool: TOOL,
  runId: string | undefined,
): TOOL {
  let first = true;
  const governed = Object.create(tool) as TOOL;
  governed.invoke = async function (this: TOOL, input: unknown, config?: unknown) {
    const own = first ? runId : undefined;
    first = false;
    const withId = own === undefined ? config : { ...(config as object | undefined), runId: own };
    try {
      return await tool.invoke.call(this, input, withId);
    } catch (error) {
      throw markRefusal(error);
    }
  };
  return governed;
}

/** A call the middleware could not run through spendguard (a misconfiguration): refused, never thrown. */
function failure(error: unknown, reason: string): ToolRefusal {
  const code = SpendguardError.isInstance(error) ? error.code : 'request_invalid';
  const refusal = toolRefusal({
    decision: 'denied',
    code: 'request_invalid',
    message: reason,
  }) as ToolRefusal;
  return { ...refusal, code };
}
