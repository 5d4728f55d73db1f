import { Agent, type AgentConfiguration } from '@openai/agents';
import { BILLING_AGENT, type Script } from '@spendguard/testkit/adapters';
import { type ScriptedBillingModel, scriptedModel } from './scripted-model.ts';

export const BILLING_INSTRUCTIONS = 'You bill customers for their orders with the charge tool.';

// biome-ignore lint/suspicious/noExplicitAny: an agent of any context, as the SDK's own configuration types it
type AgentOptions = Partial<AgentConfiguration<any>>;

/**
 * An `Agent` whose model is the SDK's `ScriptedModel` playing `script`: the billing agent by
 * default (name `billing-agent`), or any other (a triage agent with handoffs) by `options`.
 */
export function scriptedAgent(
  script: Script,
  options: AgentOptions = {},
  // biome-ignore lint/suspicious/noExplicitAny: see above
): { agent: Agent<any>; scripted: ScriptedBillingModel } {
  const scripted = scriptedModel(script);
  const agent = new Agent({
    name: BILLING_AGENT,
    instructions: BILLING_INSTRUCTIONS,
    ...options,
    model: scripted.model,
  });
  return { agent, scripted };
}
