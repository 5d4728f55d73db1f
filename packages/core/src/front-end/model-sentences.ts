import { type Operation, operationName } from '../operation.ts';

/**
 * Every sentence spendguard's front ends put in front of a model, in one place so they are
 * reviewed together and read alike in every framework. A refusal says what was refused, why, and
 * whether calling again can help, so the model does not loop on the same call.
 *
 * How each framework hands a refusal (a `ToolRefusal`) to the model:
 * - AI SDK, Mastra and OpenAI Agents: as the tool's result;
 * - LangChain / LangGraph: as a `ToolMessage` with `status: 'error'`;
 * - MCP: as a tool result with `isError: true`;
 * - a governed client (fetch, Stripe, Twilio): as the vendor's own error response, which its SDK
 *   raises, so the tool reports it as it reports any vendor error.
 * A stop (the run's key revoked or expired, or no run key) ends the run in the framework's own way
 * as well (an abort signal, an error the framework does not swallow, an interrupt).
 */
export const ADVICE = {
  /** A refusal by the policy, a cap, a key: the same call will be refused again. */
  denied:
    'spendguard refused this call. Retrying will not help; do not call it again with the same arguments.',
  /** The policy wants a human's yes first; core's approval id is in the reason. */
  needsApproval:
    'A human must approve this call. Tell the user it awaits approval; do not call it again until then.',
  /** The vendor may have acted (a timeout, a reset): calling again could pay twice. */
  outcomeUnknown: 'It may have gone through. Do not call it again now; report it to the user.',
  /** The vendor refused the call itself. */
  vendorError: 'The vendor refused it. Do not retry the same call; report the error to the user.',
  /** No run key could be derived: the root key was revoked or expired. The run stops. */
  runKeyInvalid:
    'The vault key of this run can no longer act, so the run is stopped. Retrying will not help.',
  /** The store is down: nothing was called, and nothing can be until it is back. */
  storeUnavailable: 'Do not call it again now; report it to the user.',
} as const;

/** The reason of a refusal when no run key could be derived because the store is down. */
export function storeUnavailableReason(message: string): string {
  return `the spendguard store is unavailable, so the call was not made: ${message}`;
}

/** The reason of a governed vendor request refused for carrying no vault key (`key_unknown`). */
export const NO_VAULT_KEY = 'no vault key: pass `key`, send one as the API key, or run inside a run binding';

/**
 * The reason shown with a framework's approval request (next to the model's call, to whoever
 * approves it) when the policy's approval rule matched one of the tool's vendor calls.
 */
export function approvalReason(request: Operation): string {
  return `spendguard: the policy wants a human's approval for ${request.vendor} ${operationName(request)}`;
}
