import { isToolRefusal, type ToolRefusal } from '@spendguard/core';
import { type SpendguardTripwire, TRIPWIRE_ID } from './tripwire.ts';

/**
 * The refusal codes of a run whose vault key can no longer act (core's `stopsTheRun`, and a root
 * key that cannot derive one): the run must end, not go on.
 */
const STOP_CODES: ReadonlySet<string> = new Set(['key_revoked', 'key_expired', 'key_invalid']);

/** Whether a tool output is the refusal of a run that must stop (the kill switch). */
export function isRunStop(output: unknown): output is ToolRefusal {
  return isToolRefusal(output) && STOP_CODES.has(output.code);
}

/** The parts of Mastra's `processInputStep` arguments the kill switch reads. */
interface InputStepArgs {
  steps: readonly unknown[];
  abort: (reason?: string, options?: { retry?: boolean; metadata?: SpendguardTripwire }) => never;
}

/** An input processor that ends an agent run once a guarded tool reported the run stopped. */
export interface SpendguardKillSwitch {
  readonly id: typeof TRIPWIRE_ID;
  readonly name: string;
  processInputStep(args: InputStepArgs): undefined;
}

/**
 * The kill switch for agents defined once (a module-level `Agent`, no `AbortController` per
 * request): put it in the agent's `inputProcessors`. Before each model call it looks at the run's
 * earlier steps; when a guarded tool's output says the run's key was revoked or expired, it ends
 * the run with Mastra's own `abort()` — no further model call, `finishReason` `other` and
 * `tripwire: { reason, metadata: { code, … }, processorId: 'spendguard' }` on the result (a
 * `tripwire` chunk in `stream()`).
 *
 * It is an input processor on purpose: in Mastra 1.71 an `abort()` from `processToolResult`
 * returns the tripwire to the caller while the loop goes on in the background (one more model
 * call, one more tool call), whereas `processInputStep` stops the loop before the model is asked.
 */
export function spendguardKillSwitch(): SpendguardKillSwitch {
  return {
    id: TRIPWIRE_ID,
    name: 'spendguard kill switch',
    processInputStep({ steps, abort }) {
      const stop = steps.flatMap(toolOutputs).find(isRunStop);
      if (stop) {
        abort(`spendguard stopped the run: ${stop.reason}`, {
          retry: false,
          metadata: { code: stop.code, reason: stop.reason },
        });
      }
      return undefined;
    },
  };
}

/** The tool outputs of one step as Mastra records it (`toolResults`, or the `content` parts). */
function toolOutputs(step: unknown): unknown[] {
  if (step === null || typeof step !== 'object') return [];
  const { toolResults, content } = step as { toolResults?: unknown; content?: unknown };
  const parts = [toolResults, content].flatMap((list) => (Array.isArray(list) ? list : []));
  return parts.flatMap((part) => {
    if (part === null || typeof part !== 'object' || (part as { type?: unknown }).type !== 'tool-result') {
      return [];
    }
    const { output, result } = part as { output?: unknown; result?: unknown };
    // The model's view of it: `{ type: 'json', value }`, or the raw result.
    const value =
      output !== null && typeof output === 'object' && 'value' in output
        ? (output as { value: unknown }).value
        : (output ?? result);
    return [value];
  });
}
