import type { RequestContext } from '@mastra/core/request-context';
import { sha256Hex } from '@spendguard/core';

/** Where a guarded tool runs: in an agent's loop, as a workflow step, or called by the app itself. */
export type CallSite = 'agent' | 'workflow' | 'direct';

/**
 * What Mastra tells a tool about one of its calls (the second argument of `execute`), read
 * defensively: every id is a string or undefined, whatever the context object holds.
 */
export interface MastraCall {
  /** The tool's id: its name on the checkpoint and the audit rows. */
  toolName: string;
  site: CallSite;
  /**
   * Mastra's run: the workflow run's id in a workflow step (kept across step retries and resume),
   * else the agent run's id (one per `generate()` / `stream()`, kept by `approveToolCall`).
   */
  runId: string | undefined;
  /** The agent's id of this tool call (from the model; none in a workflow step). */
  toolCallId: string | undefined;
  /** The Mastra agent running the tool. */
  agentId: string | undefined;
  /** The agent's memory thread and resource (the user the memory belongs to). */
  threadId: string | undefined;
  resourceId: string | undefined;
  /** The workflow running the tool as a step. */
  workflowId: string | undefined;
  /** Mastra's trace of the call (`tracingContext.currentSpan.traceId`), when an observability exporter is on. */
  traceId: string | undefined;
  /** The request context of the call, as Mastra hands it to the tool. */
  requestContext: RequestContext | undefined;
}

/** Ids longer than this are kept as a digest, so a huge id from a request cannot bloat every audit row. */
export const MAX_ID_LENGTH = 256;

/** The ids of one call, from the tool's execution context. */
export function mastraCallOf(toolName: string, context: unknown): MastraCall {
  const ctx = recordOf(context);
  const agent = recordOf(read(ctx, 'agent'));
  const workflow = recordOf(read(ctx, 'workflow'));
  const site: CallSite = agent ? 'agent' : workflow ? 'workflow' : 'direct';
  return {
    toolName,
    site,
    // In a workflow step the run is the workflow's; an agent's tools get its run id at the top level.
    runId: site === 'workflow' ? idOf(read(workflow, 'runId')) : idOf(read(ctx, 'runId')),
    toolCallId: idOf(read(agent, 'toolCallId')),
    agentId: idOf(read(agent, 'agentId')),
    threadId: idOf(read(agent, 'threadId')),
    resourceId: idOf(read(agent, 'resourceId')),
    workflowId: idOf(read(workflow, 'workflowId')),
    traceId: idOf(read(recordOf(read(recordOf(read(ctx, 'tracingContext')), 'currentSpan')), 'traceId')),
    requestContext: requestContextOf(read(ctx, 'requestContext')),
  };
}

/**
 * An id as spendguard keeps it: a non-empty string, or a digest of one past `MAX_ID_LENGTH`
 * (still one id per value); anything else is no id.
 */
export function idOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return value.length > MAX_ID_LENGTH ? `sha256:${sha256Hex(value)}` : value;
}

/** The entries of a request context as a null-prototype object (empty without one). */
export function requestContextEntries(requestContext: RequestContext | undefined): Record<string, unknown> {
  const entries: Record<string, unknown> = Object.create(null);
  if (!requestContext) return entries;
  try {
    for (const [key, value] of requestContext.entries()) {
      if (typeof key === 'string') entries[key] = value;
    }
  } catch {
    // A context that cannot be read names nothing: the checkpoint then has no context entries.
  }
  return entries;
}

function requestContextOf(value: unknown): RequestContext | undefined {
  const record = recordOf(value);
  return record && typeof read(record, 'entries') === 'function' && typeof read(record, 'get') === 'function'
    ? (value as RequestContext)
    : undefined;
}

function recordOf(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
}

/** A property, or undefined when reading it throws (a hostile getter, a revoked proxy). */
function read(record: Record<string, unknown> | undefined, key: string): unknown {
  if (!record) return undefined;
  try {
    return record[key];
  } catch {
    return undefined;
  }
}
