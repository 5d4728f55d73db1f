import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import { type FakeBuiltModel, fakeModel } from '@langchain/core/testing';
import type { Script, Turn } from '@spendguard/testkit/adapters';

/** How many model calls one scripted model can answer (past the script, each is a text answer). */
const MAX_CALLS = 64;

/** Tool call ids are unique across every scripted model, as a real model's are across calls. */
let ids = 0;

/**
 * LangChain's own `fakeModel()` playing a script of turns: the n-th model call gets the n-th turn
 * (an AI message with tool calls, a text answer, or a thrown error). A script function may act
 * first (e.g. revoke a key), so the graph awaits `prepare()` right before each model call (the
 * agent node, or `scriptMiddleware`'s `wrapModelCall`); the queued response reads what it chose.
 */
export interface ScriptedModel {
  model: FakeBuiltModel;
  /** Choose the next turn (awaiting the script). */
  prepare(): Promise<void>;
  /** Model calls answered so far. */
  readonly served: number;
  /** What the model was sent on each call, as JSON text (to check what it could read). */
  inputs(): string[];
}

export function scriptedModel(script: Script): ScriptedModel {
  const model = fakeModel();
  let prepared = 0;
  let turn: Turn | undefined;
  for (let i = 0; i < MAX_CALLS; i++) model.respond(() => messageOf(turn ?? { text: 'Done.' }));
  return {
    model,
    async prepare() {
      const n = prepared++;
      turn = typeof script === 'function' ? await script(n) : (script[n] ?? { text: 'Done.' });
    },
    get served() {
      return model.calls.length;
    },
    inputs: () => model.calls.map((c) => JSON.stringify(c.messages)),
  };
}

/** A turn as the model's answer: an AI message, or the error a failed provider call throws. */
function messageOf(turn: Turn): BaseMessage | Error {
  if ('fails' in turn) return turn.fails;
  if ('text' in turn) return new AIMessage(turn.text);
  return new AIMessage({
    content: '',
    tool_calls: turn.calls.map((c) => ({
      id: `call_${++ids}`,
      name: c.tool,
      args: c.input as Record<string, unknown>,
      type: 'tool_call' as const,
    })),
  });
}
