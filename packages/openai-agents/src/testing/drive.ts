import {
  type Agent,
  type AgentInputItem,
  type RunConfig,
  Runner,
  type RunResult,
  type RunState,
  type RunToolApprovalItem,
  type Session,
  type StreamedRunResult,
} from '@openai/agents';
import type { ToolOutcome } from '@spendguard/testkit/adapters';

/** The two ways an application runs an agent: `run()` awaited, or `run(…, { stream: true })` consumed. */
export type Mode = 'run' | 'stream';
export const MODES: Mode[] = ['run', 'stream'];

// biome-ignore lint/suspicious/noExplicitAny: agents of any context and output type
type AnyAgent = Agent<any, any>;

export interface Drive {
  agent: AnyAgent;
  /** The user's input, or a `RunState` to resume (after approving or rejecting its interruptions). */
  input: string | AgentInputItem[] | RunState<unknown, AnyAgent>;
  /** The run's context object. */
  context?: unknown;
  session?: Session;
  signal?: AbortSignal;
  /** The Runner's config. Default: tracing disabled. */
  config?: Partial<RunConfig>;
}

export interface Outcome {
  /** The SDK's result, when the run resolved (it may have stopped for interruptions). */
  result: RunResult<unknown, AnyAgent> | StreamedRunResult<unknown, AnyAgent> | undefined;
  /** What `run()` rejected with (or a streamed run's `completed`), if anything. */
  error: unknown;
  /**
   * Every tool call that started, in the order it started: its output as the model reads it
   * (parsed back from JSON), or what it threw (the run's error, when it never ended).
   */
  outputs: ToolOutcome[];
  /** The approval items the run stopped on. */
  interruptions: RunToolApprovalItem[];
  /** Names of the streamed run item events, in order (empty when not streamed). */
  events: string[];
}

/**
 * One run through the SDK's real `Runner`, as an application runs it: awaited (a failure rejects)
 * or streamed (every event consumed, then `completed`). Tool outcomes are read from the runner's
 * own `agent_tool_start` / `agent_tool_end` events, so a run that rejects still reports them.
 */
export async function drive(mode: Mode, d: Drive): Promise<Outcome> {
  const runner = new Runner({ tracingDisabled: true, ...d.config });
  const started: string[] = [];
  const ended = new Map<string, unknown>();
  runner.on('agent_tool_start', (_context, _agent, _tool, { toolCall }) => {
    const id = callIdOf(toolCall);
    if (id !== undefined) started.push(id);
  });
  // The event carries the output as the model reads it (JSON text for an object): parsed back.
  runner.on('agent_tool_end', (_context, _agent, _tool, output, { toolCall }) => {
    const id = callIdOf(toolCall);
    if (id !== undefined) ended.set(id, parsedOutput(output));
  });
  const options = {
    ...(d.context !== undefined && { context: d.context }),
    ...(d.session && { session: d.session }),
    ...(d.signal && { signal: d.signal }),
  };
  let result: Outcome['result'];
  let error: unknown;
  const events: string[] = [];
  try {
    if (mode === 'run') {
      result = await runner.run(d.agent, d.input, options);
    } else {
      const stream = await runner.run(d.agent, d.input, { ...options, stream: true });
      try {
        for await (const event of stream) if (event.type === 'run_item_stream_event') events.push(event.name);
      } finally {
        // `completed` rejects with the run's error (the iteration may have thrown it already).
        await stream.completed;
      }
      result = stream;
      // A streamed run whose signal was aborted ends as `cancelled`, with no error: report the reason.
      if (stream.cancelled && d.signal?.aborted) error = d.signal.reason;
    }
  } catch (e) {
    error = e;
  }
  // The SDK ends a call that threw with the error's text, then rejects the run with it.
  const thrown = (error as { error?: unknown } | undefined)?.error;
  const outputs = started.map((toolCallId): ToolOutcome => {
    const output = ended.get(toolCallId);
    if (!ended.has(toolCallId)) return { toolCallId, error };
    if (thrown !== undefined && output === String(thrown)) return { toolCallId, error: thrown };
    return { toolCallId, output };
  });
  return { result, error, outputs, interruptions: result?.interruptions ?? [], events };
}

function parsedOutput(output: unknown): unknown {
  if (typeof output !== 'string') return output;
  try {
    return JSON.parse(output) as unknown;
  } catch {
    return output;
  }
}

function callIdOf(toolCall: unknown): string | undefined {
  const id = (toolCall as { callId?: unknown } | undefined)?.callId;
  return typeof id === 'string' ? id : undefined;
}
