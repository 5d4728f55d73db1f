/**
 * `@spendguard/testkit/adapters`: the adapter contract's behaviour table, for every framework
 * adapter's tests (`describeAdapterBehaviour`) and for `pnpm demo` (`runAdapterRows`), over a
 * shared offline billing world.
 */
export {
  BILLING_AGENT,
  BillingWorld,
  type BillingWorldOptions,
  billingPolicy,
  type ChargeInput,
  type ChargeOutput,
  chargeOrder,
  FAKE_STRIPE_SECRET,
} from './billing-world.ts';
export { type AdapterRowsOptions, type DemoTableRow, playDemoRows, runAdapterRows } from './demo-rows.ts';
export { describeAdapterBehaviour } from './describe.ts';
export {
  type AdapterSurface,
  type BillingToolset,
  chargeCall,
  type RunOptions,
  type Script,
  type ScriptedCall,
  type ToolOutcome,
  type ToolsOptions,
  type Turn,
} from './surface.ts';
export { type DemoColumn, type DemoRow, overrun, verdict } from './table.ts';
