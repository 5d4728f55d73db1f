import { noopLogger } from '@mastra/core/logger';
import { Mastra } from '@mastra/core/mastra';
import { InMemoryStore } from '@mastra/core/storage';
import { cloneStep, createStep, createWorkflow } from '@mastra/core/workflows';
import { z } from 'zod';
import { type BillingTools, chargeInput, chargeOutput } from './billing.ts';

type ChargeTool = BillingTools['charge'];

/** One order billed by one step made of the charge tool: `createStep(charge, { retries })`. */
export function billOrderWorkflow(charge: ChargeTool, options: { retries?: number } = {}) {
  return createWorkflow({ id: 'bill-order', inputSchema: chargeInput, outputSchema: chargeOutput })
    .then(createStep(charge, { retries: options.retries ?? 0 }))
    .commit();
}

/**
 * Two branches that each bill the order (say a checkout step and a fulfilment step that both
 * think they own the charge), run in parallel: `.parallel([charge, cloneStep(charge)])`.
 */
export function parallelBillingWorkflow(charge: ChargeTool) {
  const checkout = createStep(charge);
  const fulfilment = cloneStep(checkout, { id: 'charge-on-fulfilment' });
  return createWorkflow({ id: 'bill-twice', inputSchema: chargeInput, outputSchema: z.any() })
    .parallel([checkout, fulfilment])
    .commit();
}

/** A batch of orders billed with `.foreach(createStep(charge), { concurrency })`. */
export function batchBillingWorkflow(charge: ChargeTool, options: { concurrency?: number } = {}) {
  return createWorkflow({ id: 'bill-batch', inputSchema: z.array(chargeInput), outputSchema: z.any() })
    .foreach(createStep(charge), { concurrency: options.concurrency ?? 5 })
    .commit();
}

/**
 * The workflows registered in a `Mastra` instance, as an application runs them: in-memory
 * storage (suspend and resume need it), Mastra's logger silenced.
 */
export function workflowMastra<W extends Record<string, ReturnType<typeof createWorkflow>>>(workflows: W) {
  return new Mastra({ workflows, storage: new InMemoryStore(), logger: noopLogger });
}
