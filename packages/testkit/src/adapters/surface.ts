import type { DeriveOptions } from '@spendguard/core';
import type { BillingWorld, ChargeInput } from './billing-world.ts';

/** A tool call as a scripted model emits it. */
export interface ScriptedCall {
  tool: string;
  input: unknown;
}

/** One model turn: tool calls (run in parallel where the framework does), a text answer, or a failed model call. */
export type Turn = { calls: ScriptedCall[] } | { text: string } | { fails: Error };

/**
 * What the framework's mock model plays in one run: the n-th model call gets the n-th turn, or
 * what the function returns for it (it may act first, e.g. revoke a key). Past the end, a text answer.
 */
export type Script = Turn[] | ((call: number) => Turn | Promise<Turn>);

/** A charge tool call (currency `usd` unless `extra` says otherwise). */
export function chargeCall(
  customer: string | undefined,
  amountCents: number,
  orderId: string,
  extra: Partial<ChargeInput> = {},
): ScriptedCall {
  return { tool: 'charge', input: { customer, amountCents, currency: 'usd', orderId, ...extra } };
}

export interface ToolsOptions {
  /** Through spendguard (the adapter's wrapper over a governed Stripe client), or the plain tools. */
  governed: boolean;
  /** The run the calls belong to. Default: the adapter's own (one generated per toolset). */
  runId?: string;
  /** How the run's key narrows the root key, e.g. `{ caps: { perRun: 100 } }`. */
  runKey?: Omit<DeriveOptions, 'runId'>;
  /** The caller's controller: the kill switch aborts it when the run's key is revoked. */
  abortController?: AbortController;
}

/** The framework's billing tools (or an agent holding them), and how often the charge tool's own code ran. */
export interface BillingToolset<Tools> {
  tools: Tools;
  stats: { readonly executions: number };
}

export interface RunOptions<Tools, Result> {
  tools: Tools;
  /** The user's request. */
  prompt: string;
  /** Continue the conversation of this earlier run (its stored messages, thread or session). */
  resume?: Result;
  /** The caller's abort signal, passed to the framework's loop. */
  abortSignal?: AbortSignal;
}

/** What became of one tool call: its output (a result or a refusal the model reads), or the error the framework got. */
export interface ToolOutcome {
  toolCallId: string;
  output?: unknown;
  error?: unknown;
}

/**
 * One framework under the behaviour table: how to build its billing tools, drive its real loop
 * with its own offline mock model, and read what happened. `Tools` and `Result` are the
 * framework's own types; the table only hands them back.
 */
export interface AdapterSurface<Tools, Result> {
  /**
   * The billing tools: a `charge` tool whose body is `chargeOrder` over `world.plainStripe()`, or,
   * when governed, over `world.governedStripe()` and wrapped by the adapter with `world.guard`,
   * `world.rootToken`, agent `world.agentName` and the options.
   */
  tools(world: BillingWorld, options: ToolsOptions): BillingToolset<Tools>;
  /** One run (generation, invocation) through the framework's loop, its mock model playing the script. Never throws for the run's own failure. */
  run(script: Script, options: RunOptions<Tools, Result>): Promise<Result>;
  /** Every tool call's outcome, in order. */
  outputs(result: Result): ToolOutcome[];
  /** What ended the run early (a failed model call, spendguard's stop), or undefined when it finished. */
  error(result: Result): unknown;
  /** What the model was sent on each call it answered, as text: what it could read. */
  modelInputs(result: Result): string[];
}
