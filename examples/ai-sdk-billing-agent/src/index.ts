/** The AI SDK billing agent example: its tools, and its rows for `pnpm demo`. */
export {
  type BillingTools,
  type ChargeInput,
  type ChargeOutput,
  createBillingTools,
} from './billing-tools.ts';
export {
  type AiSdkDemoColumn,
  type AiSdkDemoOptions,
  type AiSdkDemoRow,
  runAiSdkDemoRows,
} from './demo-rows.ts';
