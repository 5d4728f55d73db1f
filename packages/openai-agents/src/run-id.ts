import type { RunKeys } from '@spendguard/core';
import { attributionId } from './call-input.ts';

/**
 * The run a call belongs to: a `runId` string in the run's context object (the `context` given to
 * `run(agent, input, { context })`, which every agent of the run and every nested agent-as-tool
 * run shares), else the toolset's (`options.runId`, or one generated per `guardTools` call).
 */
export function runIdOf(context: unknown, runKeys: RunKeys): string {
  if (context === null || typeof context !== 'object') return runKeys.defaultRunId;
  // An own property only: a runId inherited through a prototype is not the app's.
  if (!Object.hasOwn(context, 'runId')) return runKeys.defaultRunId;
  const runId = (context as { runId?: unknown }).runId;
  return typeof runId === 'string' && runId !== '' ? attributionId(runId) : runKeys.defaultRunId;
}
