import { AsyncLocalStorage } from 'node:async_hooks';
import type { ExecuteDecision } from './decision.ts';
import type { Attribution } from './operation.ts';

/**
 * The run a piece of code is working for: its vault key and attribution. Adapters bind it around
 * a tool's execution, so governed clients created inside the tool need no extra parameters.
 */
export interface RunBinding extends Attribution {
  /** The run's vault-key token. */
  key: string;
  /** A human approved the current tool call through the framework's approval flow. */
  approvedBy?: string;
}

const storage = new AsyncLocalStorage<RunBinding>();
/** Refusals of guarded calls made inside each binding, so a tool checkpoint can report them. */
const refusals = new WeakMap<RunBinding, ExecuteDecision<unknown>[]>();

/** Run `fn` with `binding` as the current run (for everything it awaits, too). */
export function runWithBinding<T>(binding: RunBinding, fn: () => T): T {
  return storage.run(binding, fn);
}

/** The current run binding, if code is running inside one. */
export function currentRun(): RunBinding | undefined {
  return storage.getStore();
}

/** Remember a refused call made inside the current binding (the guard calls this). */
export function noteRefusal(decision: ExecuteDecision<unknown>): void {
  const binding = storage.getStore();
  if (!binding) return;
  const list = refusals.get(binding);
  if (list) list.push(decision);
  else refusals.set(binding, [decision]);
}

/** The last refused call made inside a binding, if any. */
export function lastRefusal(binding: RunBinding): ExecuteDecision<unknown> | undefined {
  return refusals.get(binding)?.at(-1);
}
