/**
 * `@spendguard/ai-sdk/testing`: the AI SDK driver of the adapter behaviour table, and what it is
 * made of, for tests and offline examples: a scripted `MockLanguageModelV4`, the billing tools,
 * and the real `generateText` / `streamText` loop.
 */
export { type BillingTools, billingTools, chargeInput } from './billing.ts';
export {
  type ApprovalAsk,
  approvalRequests,
  approvalResponse,
  drive,
  type Generation,
  MODES,
  type Mode,
  type Outcome,
  toolOutcomes,
} from './drive.ts';
export { promptOf, promptsOf, type ScriptedModel, scriptedModel } from './scripted-model.ts';
export { type AiSdkRun, aiSdkSurface } from './surface.ts';
