import { randomUUID } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  contentHash,
  currentRun,
  type ExecuteDecision,
  type ExecuteRequest,
  type Guard,
  guardToolCall,
  RequestInvalidError,
  type RunKeys,
  type Settlement,
  type ToolCallOutcome,
  toPlainData,
  type VendorCallContext,
  VendorCallError,
  type VendorProfile,
} from '@spendguard/core';
import { type ApprovalAsker, askToApprove } from './approval-form.ts';
import { VAULT_KEY_IN_ARGUMENTS } from './mcp-sentences.ts';
import { carriesVaultToken, type Scrubber } from './scrubber.ts';
import { type PlannedOperation, type ToolMapping, type ToolPlan, UNMAPPED_VENDOR } from './tool-plan.ts';
import { asCallToolResult, refusalResult, vendorObjectOf } from './tool-result.ts';
import { surelyNotRun, type Upstream } from './upstream.ts';
import { type LookupOptions, vendorLookup } from './vendor-lookup.ts';

/** What one session gives each of its tool calls. */
export interface CallSession {
  guard: Guard;
  runKeys: RunKeys;
  upstream: () => Promise<Upstream>;
  scrub: Scrubber;
  /** The MCP session id (the Streamable HTTP `Mcp-Session-Id`, or one made for a stdio session). */
  sessionId: string;
  /** The client's name from `initialize` (`claude-ai`, `cursor-vscode`), bounded. */
  clientName: () => string;
  /** Whether the session is still open. */
  open: () => boolean;
  /** Vendor profiles, to read what money a result says moved. */
  profiles: ReadonlyMap<string, VendorProfile>;
  lookups: LookupOptions;
}

/** One tools/call as the downstream client sent it. */
export interface ToolCallInput {
  name: string;
  args: unknown;
  /** The JSON-RPC request id. */
  requestId: string;
  /** Aborted when the client cancels the call or gives up waiting (its timeout). */
  signal: AbortSignal;
  mapping: ToolMapping;
  /** Asks the user through elicitation; absent when the client cannot answer or the operator said not to. */
  ask?: ApprovalAsker | undefined;
}

/** What became of a call: the result for the client, and core's outcome kind and code for the log line. */
export interface GovernedCall {
  result: CallToolResult;
  outcome: ToolCallOutcome;
}

/**
 * One MCP tool call through the guard: read its arguments safely, map it onto the vendor operation
 * it performs, and run it through core's tool-call sequence — checkpointed as a whole (a duplicate
 * gets the stored result, the upstream is not called again), its vendor operation priced, checked
 * against the key's policy and caps and audited as the proxy's would be, approvals asked through
 * elicitation. The upstream MCP server is called only from inside the guard.
 */
export async function governToolCall(session: CallSession, call: ToolCallInput): Promise<GovernedCall> {
  const { args, plan } = readCall(call);
  let upstreamRefusal: CallToolResult | undefined;
  const runId = session.runKeys.defaultRunId;
  const toolCallId = call.requestId;
  const agentId = session.clientName();
  // Reads and free tools run every time: a list must not come back from yesterday's checkpoint.
  const once = plan.kind === 'free' || (plan.kind === 'operation' && plan.read);
  const outcome = await guardToolCall(
    {
      guard: session.guard,
      runKeys: session.runKeys,
      name: call.name,
      agentId,
      ...(once && { idempotencyKey: () => `mcp-once:${randomUUID()}` }),
    },
    {
      input: args,
      toolCallId,
      runId,
      run: async () => {
        const forward = () =>
          forwardCall(session, call.name, args, (refusal) => {
            upstreamRefusal = refusal;
          });
        if (plan.kind === 'free') return forward();
        return runOperation(session, call, plan, { runId, toolCallId, agentId, forward });
      },
    },
  );
  switch (outcome.kind) {
    case 'result':
      return { result: asCallToolResult(outcome.value), outcome };
    case 'refusal':
      // The vendor refused the call itself: the model reads the upstream's own error.
      if (upstreamRefusal && outcome.refusal.code === 'vendor_error')
        return { result: upstreamRefusal, outcome };
      return { result: refusalResult(outcome.refusal), outcome };
    case 'stop':
      return { result: refusalResult(outcome.refusal), outcome };
  }
}

/**
 * The upstream tool call itself, made only from inside the guard: its answer scrubbed of every
 * secret. An `isError` answer (the vendor refused) is handed to `onRefusal` for the model to read,
 * and thrown as a surely-failed call; no answer is an unknown outcome unless the server refused
 * the request outright (no such tool, arguments its schema rejects).
 */
async function forwardCall(
  session: CallSession,
  name: string,
  args: Record<string, unknown>,
  onRefusal: (result: CallToolResult) => void,
): Promise<CallToolResult> {
  // An upstream that never started surely did nothing (UpstreamUnavailableError: failed).
  const upstream = await session.upstream();
  let answer: CallToolResult;
  try {
    answer = await upstream.callTool(name, args);
  } catch (error) {
    const reason = session.scrub.text(error instanceof Error ? error.message : String(error));
    throw new VendorCallError(`the upstream MCP server refused or did not answer the call: ${reason}`, {
      outcome: surelyNotRun(error) ? 'failed' : 'unknown',
    });
  }
  const result = scrubbed(session.scrub, answer);
  if (result.isError) {
    onRefusal(result);
    throw new VendorCallError('the upstream tool answered with an error', { outcome: 'failed' });
  }
  return result;
}

/** The arguments as plain, bounded data, and the plan; arguments that can't be read make an invalid plan. */
function readCall(call: ToolCallInput): { args: Record<string, unknown>; plan: ToolPlan } {
  let args: Record<string, unknown>;
  try {
    const plain = toPlainData(call.args ?? {}, 'arguments');
    if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
      throw new RequestInvalidError('arguments must be an object');
    }
    args = plain as Record<string, unknown>;
  } catch (error) {
    if (!RequestInvalidError.isInstance(error)) throw error;
    const empty: Record<string, unknown> = Object.create(null);
    return { args: empty, plan: invalidPlan(call, error.message) };
  }
  if (carriesVaultToken(args)) return { args, plan: invalidPlan(call, VAULT_KEY_IN_ARGUMENTS) };
  return { args, plan: call.mapping.plan(args) };
}

/** A call refused for its arguments, put to the guard as the operation its tool names (or the tool itself). */
function invalidPlan(call: ToolCallInput, message: string): ToolPlan {
  const shape = call.mapping.shape;
  const operation: PlannedOperation =
    shape.kind === 'endpoint'
      ? { vendor: shape.vendor, method: shape.method, path: shape.path, params: Object.create(null) }
      : {
          vendor: shape.kind === 'dispatcher' ? shape.vendor : UNMAPPED_VENDOR,
          method: 'POST',
          path: `/tools/${encodeURIComponent(call.name.slice(0, 128))}`,
          params: Object.create(null),
        };
  return { kind: 'invalid', operation, message };
}

interface Attribution {
  runId: string;
  toolCallId: string;
  agentId: string;
  forward: () => Promise<CallToolResult>;
}

/**
 * The vendor operation, inside the tool's checkpoint and bound to the run key: priced (reading
 * the object it names where the amount lives there), checked and reserved by `guard.execute`,
 * which calls the upstream only when all of it passes. A call the policy wants approved is asked
 * through elicitation when the client can answer; the answer is recorded as core's approval
 * decision, so `guard.execute` then runs it (once) or refuses it, and only if the call is still live.
 */
async function runOperation(
  session: CallSession,
  call: ToolCallInput,
  plan: Exclude<ToolPlan, { kind: 'free' }>,
  who: Attribution,
): Promise<CallToolResult> {
  const run = currentRun();
  if (!run) throw new Error('a governed tool call runs inside its run binding');
  const { operation } = plan;
  const request: ExecuteRequest = {
    key: run.key,
    vendor: operation.vendor,
    method: operation.method,
    path: operation.path,
    params: operation.params,
    runId: who.runId,
    agentId: who.agentId,
    toolCallId: who.toolCallId,
    traceId: session.sessionId,
    ...(operation.account !== undefined && { account: operation.account }),
    ...(operation.cost !== undefined && { cost: operation.cost }),
    ...(plan.kind === 'invalid' && { invalidRequest: plan.message }),
    ...(plan.kind === 'operation' && plan.read && { idempotencyKey: `mcp-read:${randomUUID()}` }),
    ...(plan.kind === 'operation' && plan.extra && { idempotencyKey: extraKey(operation, plan.extra) }),
  };
  const lookup = vendorLookup(operation.vendor, operation.account, session.lookups);
  if (lookup) request.lookup = lookup;
  const profile = session.profiles.get(operation.vendor);
  const vendorCall = async (context: VendorCallContext): Promise<CallToolResult> => {
    // An MCP tool carries no idempotency key: a call whose outcome was unknown is never sent again.
    if (context.resumed) {
      throw new VendorCallError(
        'an earlier attempt of this call may have acted and the MCP tool has no idempotency key, so it is not sent again; reconcile it first',
        { outcome: 'unknown' },
      );
    }
    return who.forward();
  };
  const settle = (result: CallToolResult, estimate: Settlement['cost']): Settlement => {
    const object = vendorObjectOf(result);
    return object && profile ? profile.settle(operation, object, estimate) : {};
  };
  let decision: ExecuteDecision<CallToolResult> = await session.guard.execute(request, vendorCall, {
    settle,
  });
  if (decision.decision === 'needs_approval') {
    if (call.ask) {
      const answered = await askToApprove(session.guard, call.ask, {
        approvalId: decision.approvalId,
        tool: call.name,
        operation,
        estimatedCostUsd: decision.estimatedCostUsd ?? 0,
        client: who.agentId,
      });
      // Before money moves on a late answer: the client must still be waiting for this call.
      if (answered && !call.signal.aborted && session.open()) {
        decision = await session.guard.execute(request, vendorCall, { settle });
      }
    }
  }
  if (decision.decision === 'executed' || decision.decision === 'replayed') return decision.result;
  // Core noted the refusal inside this run: the tool's checkpoint fails with it as its decision.
  throw new Error(decision.message);
}

/** A result with every secret and vault token scrubbed out (the upstream may echo its key). */
function scrubbed(scrub: Scrubber, result: CallToolResult): CallToolResult {
  const clean = scrub.value(result);
  return typeof clean === 'string'
    ? { content: [{ type: 'text', text: clean }], isError: !!result.isError }
    : clean;
}

/**
 * The checkpoint key of a call whose tool takes arguments beyond the operation's params
 * (`livemode`, a confirmation token): the same operation with other such arguments is another call.
 */
function extraKey(operation: PlannedOperation, extra: Record<string, unknown>): string {
  return `mcp-call:${contentHash([operation.vendor, operation.method, operation.path, operation.params, operation.account ?? null, extra])}`;
}
