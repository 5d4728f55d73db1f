import { MockLanguageModelV4 } from 'ai/test';

type DoGenerate = MockLanguageModelV4['doGenerate'];
type CallOptions = Parameters<DoGenerate>[0];
type GenerateResult = Awaited<ReturnType<DoGenerate>>;

/** One model turn: tool calls (the AI SDK runs them in parallel), a text answer, or a failed call. */
export type Turn = { calls: { tool: string; input: unknown }[] } | { text: string } | { fails: Error };

const usage: GenerateResult['usage'] = {
  inputTokens: { total: 20, noCache: 20, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 10, text: 10, reasoning: undefined },
};

let ids = 0;

/**
 * An offline model for the example: the AI SDK's own `MockLanguageModelV4` playing a script, one
 * turn per model call (a function may pick the turn, and act first, e.g. revoke a key). Tool call
 * ids are new on every call, as a real model's are. Like a provider's fetch, a call on an aborted
 * signal rejects with the signal's reason.
 */
export function offlineModel(
  script: Turn[] | ((call: number, options: CallOptions) => Turn | Promise<Turn>),
): MockLanguageModelV4 {
  let calls = 0;
  return new MockLanguageModelV4({
    provider: 'offline',
    modelId: 'scripted-billing-agent',
    doGenerate: async (options) => {
      const n = calls++;
      const turn = (typeof script === 'function' ? await script(n, options) : script[n]) ?? { text: 'Done.' };
      options.abortSignal?.throwIfAborted();
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
        content: turn.calls.map((c) => ({
          type: 'tool-call' as const,
          toolCallId: `call_${++ids}`,
          toolName: c.tool,
          input: JSON.stringify(c.input),
        })),
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
        usage,
        warnings: [],
      };
    },
  });
}

/** A charge tool call, as the scripted model emits it. */
export function chargeCall(
  customer: string | undefined,
  amountCents: number,
  orderId: string,
  currency = 'usd',
): { tool: string; input: unknown } {
  return { tool: 'charge', input: { customer, amountCents, currency, orderId } };
}

export type { CallOptions };
