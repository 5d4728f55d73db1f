import { randomUUID } from 'node:crypto';
import { type BaseMessage, HumanMessage } from '@langchain/core/messages';
import type { ToolOutcome } from '@spendguard/testkit/adapters';
import { refusalOf } from '../refusal-message.ts';
import type { BillingGraph } from './graphs.ts';
import type { ScriptedModel } from './scripted-model.ts';

/** One invocation of a graph on a thread, as the behaviour table reads it. */
export interface ThreadRun {
  /** The thread's messages after the run: its checkpoint, also when the run failed. */
  messages: BaseMessage[];
  /** How many of them were there before the model's first answer (the seed and the prompt). */
  seeded: number;
  /** What `invoke` rejected with, if it did. */
  error: unknown;
  model: ScriptedModel;
  threadId: string;
}

/**
 * Invoke a graph on a new thread, as an application does: the seed (an earlier conversation) and
 * the user's prompt as its input, the caller's signal passed through. Never throws: a rejection
 * is the run's `error`, and the thread's checkpoint is read either way.
 */
export async function invokeThread(
  graph: BillingGraph,
  model: ScriptedModel,
  options: { prompt: string; seed?: BaseMessage[]; abortSignal?: AbortSignal; threadId?: string },
): Promise<ThreadRun> {
  const threadId = options.threadId ?? `thread-${randomUUID()}`;
  const seed = options.seed ?? [];
  const config = { configurable: { thread_id: threadId } };
  let error: unknown;
  try {
    await graph.invoke(
      { messages: [...seed, new HumanMessage(options.prompt)] },
      { ...config, ...(options.abortSignal && { signal: options.abortSignal }) },
    );
  } catch (e) {
    error = e;
  }
  return { messages: await threadMessages(graph, threadId), seeded: seed.length + 1, error, model, threadId };
}

/** A thread's messages, from its checkpoint. */
export async function threadMessages(graph: BillingGraph, threadId: string): Promise<BaseMessage[]> {
  const state = await graph.getState({ configurable: { thread_id: threadId } });
  return ((state.values as { messages?: BaseMessage[] } | undefined)?.messages ?? []).slice();
}

/**
 * Every tool call's outcome among these messages, in the model's order: its `ToolMessage`'s
 * content (JSON where it is JSON) as the output; an error `ToolMessage` that is not a spendguard
 * refusal (LangGraph's "Please fix your mistakes.") as the error. Calls with no answer are left out.
 */
export function toolOutcomes(messages: readonly BaseMessage[]): ToolOutcome[] {
  const answers = new Map<string, BaseMessage>();
  for (const m of messages) {
    const id = (m as { tool_call_id?: unknown }).tool_call_id;
    if (m.getType() === 'tool' && typeof id === 'string') answers.set(id, m);
  }
  const outcomes: ToolOutcome[] = [];
  for (const m of messages) {
    if (m.getType() !== 'ai') continue;
    for (const call of (m as { tool_calls?: { id?: string }[] }).tool_calls ?? []) {
      const answer = call.id === undefined ? undefined : answers.get(call.id);
      if (!answer || call.id === undefined) continue;
      const content = parsed(answer.content);
      const failed = (answer as { status?: unknown }).status === 'error' && !refusalOf(answer);
      outcomes.push(
        failed ? { toolCallId: call.id, error: content } : { toolCallId: call.id, output: content },
      );
    }
  }
  return outcomes;
}

/** Message content as the app reads it: JSON parsed where it is JSON. */
export function parsed(content: unknown): unknown {
  if (typeof content !== 'string') return content;
  try {
    return JSON.parse(content);
  } catch {
    return content;
  }
}
