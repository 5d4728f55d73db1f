import type { Turn } from '@spendguard/testkit/adapters';
import { MockLanguageModelV4 } from 'ai/test';

type DoGenerate = MockLanguageModelV4['doGenerate'];
type CallOptions = Parameters<DoGenerate>[0];
type GenerateResult = Awaited<ReturnType<DoGenerate>>;
type StreamPart =
  Awaited<ReturnType<MockLanguageModelV4['doStream']>>['stream'] extends ReadableStream<infer P> ? P : never;

const usage: GenerateResult['usage'] = {
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

/** A mock model and how many turns it has played (model calls that were not aborted). */
export type ScriptedModel = MockLanguageModelV4 & { readonly served: number };

/** Tool call ids are unique across every scripted model, as a real model's are across calls. */
let ids = 0;

/**
 * The AI SDK's own `MockLanguageModelV4`, playing a script of turns: the n-th model call gets the
 * n-th turn (a function may choose one, and may do something first). Past the script's end the
 * model answers with text. Like a real provider's fetch, a call on an aborted signal rejects with
 * the signal's reason.
 */
export function scriptedModel(
  script: Turn[] | ((call: number, options: CallOptions) => Turn | Promise<Turn>),
): ScriptedModel {
  let calls = 0;
  let served = 0;
  const next = async (options: CallOptions): Promise<Turn> => {
    const n = calls++;
    const turn = typeof script === 'function' ? await script(n, options) : script[n];
    options.abortSignal?.throwIfAborted();
    served++;
    return turn ?? { text: 'Done.' };
  };
  // A call may bring its own id (`{ tool, input, id }`): what a provider sends is the model's.
  const toolCalls = (turn: { calls: { tool: string; input: unknown; id?: string }[] }) =>
    turn.calls.map((c) => ({
      type: 'tool-call' as const,
      toolCallId: c.id ?? `call_${++ids}`,
      toolName: c.tool,
      input: JSON.stringify(c.input),
    }));
  const model = new MockLanguageModelV4({
    doGenerate: async (options) => {
      const turn = await next(options);
      if ('fails' in turn) throw turn.fails;
      if ('text' in turn) {
        return {
          content: [{ type: 'text', text: turn.text }],
          finishReason: { unified: 'stop', raw: 'stop' },
          usage,
          warnings: [],
        };
      }
      return {
        content: toolCalls(turn),
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
        usage,
        warnings: [],
      };
    },
    doStream: async (options) => {
      const turn = await next(options);
      if ('fails' in turn) throw turn.fails;
      const parts: StreamPart[] = [{ type: 'stream-start', warnings: [] }];
      if ('text' in turn) {
        parts.push(
          { type: 'text-start', id: 't' },
          { type: 'text-delta', id: 't', delta: turn.text },
          { type: 'text-end', id: 't' },
          { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage },
        );
      } else {
        parts.push(...toolCalls(turn), {
          type: 'finish',
          finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
          usage,
        });
      }
      return { stream: readable(parts) };
    },
  });
  return Object.defineProperty(model, 'served', { get: () => served }) as ScriptedModel;
}

/** What the model was sent on its n-th call, as JSON text (to check what it could read). */
export function promptOf(model: MockLanguageModelV4, n: number): string {
  const call = model.doGenerateCalls[n] ?? model.doStreamCalls[n];
  return JSON.stringify(call?.prompt ?? null);
}

/** Every prompt the model answered, as JSON text. */
export function promptsOf(model: ScriptedModel): string[] {
  return Array.from({ length: model.served }, (_, n) => promptOf(model, n));
}

function readable<T>(parts: T[]): ReadableStream<T> {
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(part);
      controller.close();
    },
  });
}
