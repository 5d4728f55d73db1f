/**
 * `@spendguard/langchain/testing`: the LangGraph and `createAgent` drivers of the adapter
 * behaviour table, and what they are made of, for tests and offline examples: LangChain's
 * `fakeModel()` playing a script, the billing tools, and the real graphs.
 */
export { type BillingTools, billingTools, type ChargeTool, chargeInput } from './billing.ts';
export { invokeThread, parsed, type ThreadRun, threadMessages, toolOutcomes } from './drive.ts';
export {
  type AgentOptions,
  type BillingGraph,
  billingAgent,
  scriptMiddleware,
  type ToolNodeGraphOptions,
  toolNodeGraph,
} from './graphs.ts';
export { type ScriptedModel, scriptedModel } from './scripted-model.ts';
export { type AgentToolset, createAgentSurface, type LangGraphRun, langGraphSurface } from './surface.ts';
