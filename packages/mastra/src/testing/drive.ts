import type { Agent } from '@mastra/core/agent';
import type { ToolOutcome } from '@spendguard/testkit/adapters';

/** The two ways to run a Mastra agent every row runs under. */
export type Mode = 'generate' | 'stream';
export const MODES: Mode[] = ['generate', 'stream'];

/** One tool call of a run, in the order the model made it, and what became of it. */
export interface ToolCallRecord {
  toolCallId: string;
  toolName: string;
  args: unknown;
  /** The tool's result (or a refusal), when it returned. */
  output?: unknown;
  /** The error Mastra reported as a `tool-error`, when it threw. */
  error?: unknown;
  /** The reason Mastra gave the model for a declined approval (`tool-output-denied`). */
  denied?: string;
}

/** A `tool-call-approval` chunk: the run is suspended until the app answers it. */
export interface ApprovalRequest {
  runId: string;
  toolCallId: string;
  toolName: string;
  args: unknown;
}

/** What a run did, read from the chunks Mastra emitted and its final output. */
export interface AgentRun {
  runId: string | undefined;
  calls: ToolCallRecord[];
  approvals: ApprovalRequest[];
  finishReason: string | undefined;
  /** Set when a processor (the kill switch) aborted the run. */
  tripwire: { reason: string; metadata?: unknown; processorId?: string } | undefined;
  /** What failed the run (a model error, the abort signal's reason), if anything did. */
  error: unknown;
  text: string;
}

/** The execution options a driven run may pass on to Mastra. */
export interface DriveOptions {
  abortSignal?: AbortSignal;
  memory?: { thread: string; resource: string };
  requestContext?: unknown;
  runId?: string;
  maxSteps?: number;
}

type Chunk = { type: string; runId?: string; payload?: Record<string, unknown> };
type FullOutput = {
  runId?: string;
  finishReason?: string;
  tripwire?: AgentRun['tripwire'];
  text?: string;
  error?: unknown;
  /** `generate()`'s approval request: it emits no `tool-call-approval` chunk to `onChunk`. */
  suspendPayload?: { toolCallId?: unknown; toolName?: unknown; args?: unknown };
};

/** Collects the chunks of one run, in the order Mastra emits them. */
class Chunks {
  readonly calls = new Map<string, ToolCallRecord>();
  readonly approvals: ApprovalRequest[] = [];
  error: unknown;
  tripwire: AgentRun['tripwire'];

  add = (chunk: Chunk): void => {
    const p = chunk.payload ?? {};
    const id = typeof p.toolCallId === 'string' ? p.toolCallId : '';
    switch (chunk.type) {
      case 'tool-call':
        this.#call(id, p).args = p.args;
        break;
      case 'tool-result':
        this.#call(id, p).output = p.result;
        break;
      case 'tool-error':
        this.#call(id, p).error = p.error;
        break;
      case 'tool-output-denied':
        this.#call(id, p).denied = (p.approval as { reason?: string } | undefined)?.reason;
        break;
      case 'tool-call-approval':
        this.approvals.push({
          runId: chunk.runId ?? '',
          toolCallId: id,
          toolName: String(p.toolName),
          args: p.args,
        });
        break;
      case 'tripwire':
        this.tripwire ??= p as AgentRun['tripwire'];
        break;
      case 'error':
        this.error ??= p.error;
        break;
    }
  };

  #call(toolCallId: string, p: Record<string, unknown>): ToolCallRecord {
    let call = this.calls.get(toolCallId);
    if (!call) {
      call = { toolCallId, toolName: String(p.toolName), args: p.args };
      this.calls.set(toolCallId, call);
    }
    return call;
  }

  run(full: FullOutput | undefined, error: unknown, signal: AbortSignal | undefined): AgentRun {
    const asked = full?.suspendPayload;
    if (
      full?.finishReason === 'suspended' &&
      typeof asked?.toolCallId === 'string' &&
      !this.approvals.some((a) => a.toolCallId === asked.toolCallId)
    ) {
      this.approvals.push({
        runId: full.runId ?? '',
        toolCallId: asked.toolCallId,
        toolName: String(asked.toolName),
        args: asked.args,
      });
    }
    return {
      runId: full?.runId,
      calls: [...this.calls.values()],
      approvals: this.approvals,
      finishReason: full?.finishReason,
      tripwire: full?.tripwire ?? this.tripwire,
      error: error ?? this.error ?? full?.error ?? (signal?.aborted ? signal.reason : undefined),
      text: full?.text ?? '',
    };
  }
}

/** The output of `agent.stream()` (and of `approveToolCall` / `declineToolCall`). */
interface StreamOutput {
  fullStream: AsyncIterable<Chunk>;
  getFullOutput(): Promise<FullOutput>;
}

/**
 * One agent run through Mastra's real loop, as an application runs it: `generate()` (awaited; a
 * failure rejects) or `stream()` (the stream consumed). Chunks are collected either way (`onChunk`
 * for `generate()`), so both modes read the same.
 */
export async function drive(
  mode: Mode,
  agent: Agent,
  prompt: string,
  options: DriveOptions = {},
): Promise<AgentRun> {
  const settings = { maxSteps: options.maxSteps ?? 10, ...options } as never;
  return collect(
    mode,
    options.abortSignal,
    (onChunk) => agent.generate(prompt, { ...(settings as object), onChunk } as never),
    () => agent.stream(prompt, settings) as unknown as Promise<StreamOutput>,
  );
}

/**
 * The app's answer to a `tool-call-approval`, Mastra's way: `approveToolCall` / `declineToolCall`
 * (streaming) or `approveToolCallGenerate` / `declineToolCallGenerate`. The run goes on with the
 * same run id.
 */
export async function answerApproval(
  mode: Mode,
  agent: Agent,
  answer: { runId: string; toolCallId: string; approved: boolean; reason?: string },
  options: DriveOptions = {},
): Promise<AgentRun> {
  const { runId, toolCallId, approved, reason } = answer;
  const base = { runId, toolCallId, maxSteps: options.maxSteps ?? 10, ...options, ...(reason && { reason }) };
  const loose = agent as unknown as Record<string, (o: unknown) => Promise<unknown>>;
  const call = (name: string, o: unknown) => (loose[name] as (o: unknown) => Promise<unknown>).call(agent, o);
  return collect(
    mode,
    options.abortSignal,
    (onChunk) =>
      call(approved ? 'approveToolCallGenerate' : 'declineToolCallGenerate', {
        ...base,
        onChunk,
      }) as Promise<FullOutput>,
    () => call(approved ? 'approveToolCall' : 'declineToolCall', base) as Promise<StreamOutput>,
  );
}

async function collect(
  mode: Mode,
  signal: AbortSignal | undefined,
  generate: (onChunk: (chunk: Chunk) => void) => Promise<unknown>,
  stream: () => Promise<StreamOutput>,
): Promise<AgentRun> {
  const chunks = new Chunks();
  let full: FullOutput | undefined;
  let error: unknown;
  try {
    if (mode === 'generate') {
      full = (await generate(chunks.add)) as FullOutput;
    } else {
      const output = await stream();
      for await (const chunk of output.fullStream) chunks.add(chunk);
      full = await output.getFullOutput();
    }
  } catch (e) {
    error = e;
  }
  return chunks.run(full, error, signal);
}

/** Every tool call's result (its output) or error, in the order the model made them. */
export function toolOutcomes(run: Pick<AgentRun, 'calls'>): ToolOutcome[] {
  return run.calls.flatMap((c): ToolOutcome[] => {
    if ('output' in c) return [{ toolCallId: c.toolCallId, output: c.output }];
    if ('error' in c) return [{ toolCallId: c.toolCallId, error: c.error }];
    return [];
  });
}
