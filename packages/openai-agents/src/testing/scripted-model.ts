import type { AgentOutputItem } from '@openai/agents';
import { assistantMessage, functionCall, modelResponder, ScriptedModel } from '@openai/agents/testing';
import type { Script, ScriptedCall, Turn } from '@spendguard/testkit/adapters';

/** A scripted model, the call ids it gave out in order, and what it was sent on each call. */
export interface ScriptedBillingModel {
  model: ScriptedModel;
  /** Every call id the model emitted, in order. */
  readonly callIds: readonly string[];
  /** What the model was sent on each call it answered, as JSON text (to check what it could read). */
  inputs(): string[];
}

/** Turns one run can take: past the SDK's `maxTurns` default of 10. */
const MAX_STEPS = 32;

/** Call ids are unique across every scripted model, as a real model's are across calls. */
let ids = 0;

/** A fresh call id, as a model would give one. */
export function nextCallId(): string {
  return `call_${++ids}`;
}

/**
 * The SDK's own `ScriptedModel` (`@openai/agents/testing`), playing a script of turns: the n-th
 * model call gets the n-th turn (a function may choose one, and may do something first), as
 * `functionCall` items (run in parallel by the SDK), an `assistantMessage`, or a failed model
 * call. Past the script's end the model answers with text. Like a real provider's request, a call
 * on an aborted signal rejects (the ScriptedModel checks).
 */
export function scriptedModel(script: Script): ScriptedBillingModel {
  const callIds: string[] = [];
  let n = 0;
  const respond = async (): Promise<AgentOutputItem[]> => {
    const call = n++;
    const turn: Turn | undefined = typeof script === 'function' ? await script(call) : script[call];
    if (!turn) return [assistantMessage('Done.')];
    if ('fails' in turn) throw turn.fails;
    if ('text' in turn) return [assistantMessage(turn.text)];
    return turn.calls.map((c: ScriptedCall) => {
      const callId = nextCallId();
      callIds.push(callId);
      return functionCall(c.tool, (c.input ?? {}) as Record<string, unknown>, { callId });
    });
  };
  const model = new ScriptedModel(Array.from({ length: MAX_STEPS }, () => modelResponder(respond)));
  return {
    model,
    callIds,
    inputs: () => model.calls.map((c) => JSON.stringify(c.request.input)),
  };
}
