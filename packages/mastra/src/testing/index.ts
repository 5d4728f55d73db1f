/**
 * `@spendguard/mastra/testing`: the Mastra driver of the adapter behaviour table, and what it is
 * made of, for tests and offline examples: a scripted `MockLanguageModelV4`, the billing tools
 * (`createTool()`), the real `Agent` loop through `generate()` / `stream()`, and billing workflows.
 */
export {
  type BillingOptions,
  type BillingTools,
  billingTools,
  type ChargeInput,
  chargeInput,
  chargeOutput,
} from './billing.ts';
export {
  type AgentRun,
  type ApprovalRequest,
  answerApproval,
  type DriveOptions,
  drive,
  MODES,
  type Mode,
  type ToolCallRecord,
  toolOutcomes,
} from './drive.ts';
export { runMastraRows } from './mastra-demo-rows.ts';
export { MASTRA_ROWS, type MastraColumn, type MastraRow, playMastraColumn } from './mastra-rows.ts';
export { asAgentModel, promptOf, promptsOf, type ScriptedModel, scriptedModel } from './scripted-model.ts';
export { BILLING_INSTRUCTIONS, type MastraRun, mastraSurface } from './surface.ts';
export {
  batchBillingWorkflow,
  billOrderWorkflow,
  parallelBillingWorkflow,
  workflowMastra,
} from './workflows.ts';
