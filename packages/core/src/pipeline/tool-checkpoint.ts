import type { ExecuteRequest, ToolCallRequest } from '../requests.ts';

/**
 * What a tool execution is checkpointed as: the tool's name and the billing-relevant part of its
 * input and context. Everything outside the input that changes the tool's effect (the customer
 * in its context) is part of the key; the run id is not (the run is the key's business).
 */
export function toolCheckpointRequest(request: ToolCallRequest): ExecuteRequest {
  return {
    ...request,
    vendor: 'tool',
    method: 'CALL',
    path: request.tool,
    params: {
      input: pickFields(request.input, inputFields(request.fields)),
      context: pickFields(withoutRunId(request.context), contextFields(request.fields)) ?? null,
    },
  };
}

/** The `fields` that name input fields, or undefined for the whole input. */
function inputFields(fields: readonly string[] | undefined): readonly string[] | undefined {
  const named = fields?.filter((f) => !f.startsWith('context.'));
  return named && named.length > 0 ? named : undefined;
}

/** The context entries `fields` names (`context.customer` → `customer`), or undefined for all. */
function contextFields(fields: readonly string[] | undefined): readonly string[] | undefined {
  const named = fields?.filter((f) => f.startsWith('context.')).map((f) => f.slice('context.'.length));
  return named && named.length > 0 ? named : undefined;
}

/** A tool context without its `runId`. */
function withoutRunId(context: unknown): unknown {
  if (context === null || typeof context !== 'object' || Array.isArray(context)) return context;
  if (!Object.hasOwn(context, 'runId')) return context;
  const { runId: _runId, ...rest } = context as Record<string, unknown>;
  return rest;
}

/** The named fields of a value, or all of it. */
function pickFields(input: unknown, fields: readonly string[] | undefined): unknown {
  if (!fields || input === null || typeof input !== 'object') return input;
  const record = input as Record<string, unknown>;
  return Object.fromEntries(fields.map((f) => [f, record[f]]));
}
