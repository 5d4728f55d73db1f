import type { ToolOutcome } from '@spendguard/testkit/adapters';
import {
  generateText,
  isStepCount,
  type ModelMessage,
  type StepResult,
  streamText,
  type ToolApprovalConfiguration,
  type ToolSet,
} from 'ai';
import type { MockLanguageModelV4 } from 'ai/test';

/** The two AI SDK entry points every row runs under. */
export type Mode = 'generateText' | 'streamText';
export const MODES: Mode[] = ['generateText', 'streamText'];

export interface Generation {
  model: MockLanguageModelV4;
  tools: ToolSet;
  /** A prompt string, or the stored messages of an earlier conversation. */
  prompt: string | ModelMessage[];
  /** `stopWhen: isStepCount(maxSteps)`. Default: 10. */
  maxSteps?: number;
  abortSignal?: AbortSignal;
  toolsContext?: Record<string, unknown>;
  /** The `toolApproval` setting of `generateText` / `streamText`. Default: none. */
  toolApproval?: ToolApprovalConfiguration<ToolSet, unknown>;
}

export interface Outcome {
  /** Every step that finished, as `onStepEnd` reported it. */
  steps: StepResult<ToolSet>[];
  /** The response messages of every finished step (what an app stores). */
  messages: ModelMessage[];
  /** What failed the generation (a model error, the abort reason), if anything did. */
  error: unknown;
}

/**
 * One generation through the real AI SDK loop, as an application runs it: `generateText`
 * (awaited; a failure rejects) or `streamText` (the stream consumed; a failure ends it with
 * `onError` or `onAbort`). Model-call retries are off, so a failed model call fails the generation.
 */
export async function drive(mode: Mode, g: Generation): Promise<Outcome> {
  const steps: StepResult<ToolSet>[] = [];
  let error: unknown;
  const settings = {
    model: g.model,
    tools: g.tools,
    prompt: g.prompt,
    stopWhen: isStepCount(g.maxSteps ?? 10),
    maxRetries: 0,
    ...(g.abortSignal && { abortSignal: g.abortSignal }),
    ...(g.toolsContext && { toolsContext: g.toolsContext as never }),
    ...(g.toolApproval && { toolApproval: g.toolApproval }),
    onStepEnd: (step: StepResult<ToolSet>) => {
      steps.push(step);
    },
  };
  if (mode === 'generateText') {
    try {
      await generateText(settings);
    } catch (e) {
      error = e;
    }
  } else {
    const result = streamText({
      ...settings,
      onError: ({ error: e }) => {
        error ??= e;
      },
    });
    await result.consumeStream();
    if (g.abortSignal?.aborted) error ??= g.abortSignal.reason;
  }
  return { steps, messages: steps.flatMap((s) => s.response.messages), error };
}

/** Every tool call's result (its output) or error, in order. */
export function toolOutcomes(outcome: Outcome): ToolOutcome[] {
  return outcome.steps.flatMap((s) =>
    s.content.flatMap((part): ToolOutcome[] => {
      if (part.type === 'tool-result') return [{ toolCallId: part.toolCallId, output: part.output }];
      if (part.type === 'tool-error') return [{ toolCallId: part.toolCallId, error: part.error }];
      return [];
    }),
  );
}

/** A `tool-approval-request` the AI SDK emitted (a human must answer it before the tool runs). */
export interface ApprovalAsk {
  approvalId: string;
  toolCallId: string;
  toolName: string;
  input: unknown;
  reason?: string | undefined;
  isAutomatic?: boolean | undefined;
}

/** Every tool approval request of a generation, in order. */
export function approvalRequests(outcome: Outcome): ApprovalAsk[] {
  return outcome.steps.flatMap((s) =>
    s.content.flatMap((part): ApprovalAsk[] =>
      part.type === 'tool-approval-request'
        ? [
            {
              approvalId: part.approvalId,
              toolCallId: part.toolCall.toolCallId,
              toolName: part.toolCall.toolName,
              input: part.toolCall.input,
              reason: part.reason,
              isAutomatic: part.isAutomatic,
            },
          ]
        : [],
    ),
  );
}

/**
 * The app's answer to approval requests, the AI SDK's way: a tool message of
 * `tool-approval-response` parts, appended to the stored messages for the next generation.
 */
export function approvalResponse(
  answers: { approvalId: string; approved: boolean; reason?: string }[],
): ModelMessage {
  return {
    role: 'tool',
    content: answers.map((a) => ({
      type: 'tool-approval-response' as const,
      approvalId: a.approvalId,
      approved: a.approved,
      ...(a.reason !== undefined && { reason: a.reason }),
    })),
  };
}
