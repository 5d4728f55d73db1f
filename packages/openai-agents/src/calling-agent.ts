import { attributionId, rawCallIdOf } from './call-input.ts';

/**
 * Which agent made a call. The SDK hands a function tool's `invoke` no agent, but it runs the
 * tool's input guardrails just before `invoke`, with the agent: a guarded tool carries one more
 * guardrail, which always allows and notes the agent for the call, per run context.
 */

/** The structural shape of an SDK tool input guardrail (no class identity needed). */
export interface InputGuardrailLike {
  type: 'tool_input';
  name: string;
  run: (data: { context: unknown; agent: unknown; toolCall: unknown }) => Promise<{
    behavior: { type: 'allow' };
  }>;
}

/** The agent of a call: the SDK's `Agent` object and its name as audit rows carry it. */
export interface CallingAgent {
  agent: object;
  name: string | undefined;
}

/** The calling agent per call id, per run context (the run's `RunContext`, shared by its agents). */
const callers = new WeakMap<object, Map<string, CallingAgent>>();

/** The guardrail every guarded tool carries, after the tool's own (one that rejects first leaves nothing to note). */
export const CALLING_AGENT_GUARDRAIL: InputGuardrailLike = {
  type: 'tool_input',
  name: 'spendguard: calling agent',
  async run({ context, agent, toolCall }) {
    const callId = rawCallIdOf({ toolCall });
    if (isObject(context) && isObject(agent) && callId !== undefined) {
      let calls = callers.get(context);
      if (!calls) {
        calls = new Map();
        callers.set(context, calls);
      }
      calls.set(callId, { agent, name: agentNameOf(agent) });
    }
    return { behavior: { type: 'allow' } };
  },
};

/** The agent whose turn made this call, when the SDK's runner ran the tool's guardrails. */
export function callingAgentOf(runContext: unknown, details: unknown): CallingAgent | undefined {
  const callId = rawCallIdOf(details);
  if (!isObject(runContext) || callId === undefined) return undefined;
  return callers.get(runContext)?.get(callId);
}

function agentNameOf(agent: object): string | undefined {
  const name = (agent as { name?: unknown }).name;
  return typeof name === 'string' && name !== '' ? attributionId(name) : undefined;
}

function isObject(value: unknown): value is object {
  return value !== null && typeof value === 'object';
}
