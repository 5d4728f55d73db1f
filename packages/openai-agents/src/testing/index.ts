/**
 * `@spendguard/openai-agents/testing`: the OpenAI Agents SDK driver of the adapter behaviour
 * table, and what it is made of, for tests and offline examples: the SDK's `ScriptedModel`
 * playing a script, the billing tools, and the real `Runner` loop, awaited or streamed.
 */
export { type BillingTools, billingTools, type ChargeTool, chargeParameters } from './billing.ts';
export { type Drive, drive, MODES, type Mode, type Outcome } from './drive.ts';
export { BILLING_INSTRUCTIONS, scriptedAgent } from './scripted-agent.ts';
export { nextCallId, type ScriptedBillingModel, scriptedModel } from './scripted-model.ts';
export { type OpenAiAgentsRun, openAiAgentsSurface } from './surface.ts';
