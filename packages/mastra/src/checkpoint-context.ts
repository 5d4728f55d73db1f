import { toPlainData } from '@spendguard/core';
import { type MastraCall, requestContextEntries } from './mastra-call.ts';

/**
 * What outside its input changes a call's effect, for its checkpoint key (core leaves out a
 * `runId` entry): the request context entries the tool reads, and the agent's `resourceId` (the
 * user its memory belongs to). Two users' calls with the same input are then two calls.
 *
 * Which request context entries: those `context.<name>` fields name, else those the tool declares
 * in its `requestContextSchema`, else none. Not all of them by default: Mastra keeps its own
 * entries there (the memory thread with its `updatedAt`, controllers, caches), which change
 * between two calls that do the same thing and would make every retry a new charge.
 *
 * Throws `RequestInvalidError` when a named or declared entry is not JSON data (a class instance,
 * a function): name the JSON fields it is made of, or give an `idempotencyKey`.
 */
export function checkpointContextOf(
  tool: { requestContextSchema?: unknown },
  call: MastraCall,
  fields: readonly string[] | undefined,
): Record<string, unknown> {
  const named = fields?.filter((f) => f.startsWith('context.')).map((f) => f.slice('context.'.length));
  const entries = requestContextEntries(call.requestContext);
  const keys = named && named.length > 0 ? named : declaredKeys(tool.requestContextSchema);
  const context: Record<string, unknown> = Object.create(null);
  for (const key of keys) {
    if (Object.hasOwn(entries, key)) context[key] = entries[key];
  }
  // Named fields keep only what they name; by default the memory's resource is part of it.
  const keepResource = named && named.length > 0 ? named.includes('resourceId') : true;
  if (keepResource && call.resourceId !== undefined) context.resourceId = call.resourceId;
  return toPlainData(context, 'context') as Record<string, unknown>;
}

/**
 * The entry names a `requestContextSchema` declares: a zod object's `shape`, or a JSON Schema's
 * `properties`. Anything else declares none.
 */
export function declaredKeys(schema: unknown): string[] {
  if (schema === null || typeof schema !== 'object') return [];
  const { shape, properties } = schema as { shape?: unknown; properties?: unknown };
  for (const keys of [shape, properties]) {
    if (keys !== null && typeof keys === 'object') return Object.keys(keys);
  }
  return [];
}
