import { Agent } from '@mastra/core/agent';
import { noopLogger } from '@mastra/core/logger';
import { RunStoppedError } from '@spendguard/core';
import { BillingWorld, chargeCall, type Script } from '@spendguard/testkit/adapters';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { guardTools } from './guard-tools.ts';
import { isRunStop, spendguardKillSwitch } from './kill-switch.ts';
import { type BillingTools, billingTools } from './testing/billing.ts';
import { drive, MODES, type Mode } from './testing/drive.ts';
import { asAgentModel, scriptedModel } from './testing/scripted-model.ts';
import { batchBillingWorkflow, billOrderWorkflow, workflowMastra } from './testing/workflows.ts';

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

function guarded(options: { runId?: string; abortController?: AbortController } = {}) {
  const { tools, stats } = billingTools(world.governedStripe());
  return { tools: guardTools(tools, { guard: world.guard, key: world.rootToken, ...options }), stats };
}

/** A module-level style agent: no AbortController per request; the kill switch is a processor. */
function agentWith(tools: BillingTools, script: Script, killSwitch: boolean) {
  const model = scriptedModel(script);
  const agent = new Agent({
    id: 'billing-agent',
    name: 'billing-agent',
    instructions: 'Bill customers.',
    model: asAgentModel(model),
    tools,
    ...(killSwitch && { inputProcessors: [spendguardKillSwitch()] }),
  });
  agent.__setLogger(noopLogger);
  return { agent, model };
}

/** Three charges, the run's key revoked by an operator before the model's second call. */
function revokedAfterFirst(customer: string | undefined, runId: string): Script {
  return async (n) => {
    if (n === 1) await world.revokeRun(runId);
    if (n < 3) return { calls: [chargeCall(customer, 1000, `ord_${n}`)] };
    return { text: 'Charged three orders.' };
  };
}

describe.each(MODES)('spendguardKillSwitch under %s', (mode: Mode) => {
  it('ends the run with a tripwire before the next model call once the key is revoked', async () => {
    const ids = await world.customers('ann');
    const billing = guarded({ runId: `ks-${mode}-1` });
    const { agent, model } = agentWith(billing.tools, revokedAfterFirst(ids.ann, `ks-${mode}-1`), true);
    const run = await drive(mode, agent, 'Charge three orders.');
    expect(run.tripwire).toEqual({
      reason: expect.stringContaining('spendguard stopped the run'),
      metadata: { code: 'key_revoked', reason: expect.stringContaining('revoked') },
      processorId: 'spendguard',
      retry: false,
    });
    // The refused call ran, and the model was not asked again.
    expect(model.served).toBe(2);
    expect(run.calls.map((c) => c.toolName)).toEqual(['charge', 'charge']);
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(billing.stats.executions).toBe(1);
  });

  it('without it (and without an AbortController) the run goes on: the model is asked again', async () => {
    const ids = await world.customers('ann');
    const billing = guarded({ runId: `ks-${mode}-2` });
    const { agent, model } = agentWith(billing.tools, revokedAfterFirst(ids.ann, `ks-${mode}-2`), false);
    const run = await drive(mode, agent, 'Charge three orders.');
    expect(run.tripwire).toBeUndefined();
    expect(model.served).toBe(4);
    // Still no second charge: every call after the revocation is refused.
    expect(world.fake.ledger.count('charge')).toBe(1);
    expect(run.calls.slice(1).map((c) => (c.output as { code?: string }).code)).toEqual([
      'key_revoked',
      'key_revoked',
    ]);
  });

  it('ends the run when no run key can be derived: the root key is revoked', async () => {
    const ids = await world.customers('ivy');
    await world.guard.keys.revoke(world.rootId);
    const billing = guarded();
    const { agent, model } = agentWith(
      billing.tools,
      [{ calls: [chargeCall(ids.ivy, 100, 'o1')] }, { calls: [chargeCall(ids.ivy, 100, 'o2')] }],
      true,
    );
    const run = await drive(mode, agent, 'go');
    expect(run.tripwire?.metadata).toMatchObject({ code: 'key_invalid' });
    expect(model.served).toBe(1);
    expect(billing.stats.executions).toBe(0);
  });
});

describe('the caller’s AbortController', () => {
  it('is aborted with a RunStoppedError: generate() ends `aborted`, no model call after the refused step', async () => {
    const ids = await world.customers('ann');
    const abortController = new AbortController();
    const billing = guarded({ runId: 'ks-abort', abortController });
    const { agent, model } = agentWith(billing.tools, revokedAfterFirst(ids.ann, 'ks-abort'), false);
    const run = await drive('generate', agent, 'Charge three orders.', {
      abortSignal: abortController.signal,
    });
    expect(run.finishReason).toBe('aborted');
    expect(RunStoppedError.isInstance(abortController.signal.reason)).toBe(true);
    expect(run.error).toMatchObject({ code: 'key_revoked' });
    expect(model.served).toBe(2);
    expect(world.fake.ledger.count('charge')).toBe(1);
  });
});

describe('in a workflow step', () => {
  it('a key revoked mid-run ends the workflow run as a tripwire; nothing more is charged', async () => {
    const ids = await world.customers('ben', 'cy');
    const abortController = new AbortController();
    let runId = '';
    const { tools, stats } = billingTools(world.governedStripe(), {
      // An operator pulls the run's key right after its first charge.
      afterCharge: () => world.revokeRun(runId),
    });
    const charge = guardTools(tools, { guard: world.guard, key: world.rootToken, abortController }).charge;
    const mastra = workflowMastra({ billBatch: batchBillingWorkflow(charge, { concurrency: 1 }) });
    const run = await mastra.getWorkflow('billBatch').createRun();
    runId = run.runId;
    const order = (customer: string | undefined, orderId: string) => ({
      customer: customer as string,
      amountCents: 1000,
      currency: 'usd',
      orderId,
    });
    const result = await run.start({ inputData: [order(ids.ben, 'ord_1'), order(ids.cy, 'ord_2')] });
    expect(result.status).toBe('tripwire');
    expect(result.status === 'tripwire' && result.tripwire).toMatchObject({
      processorId: 'spendguard',
      reason: expect.stringContaining('spendguard refused charge'),
      metadata: { code: 'key_revoked', toolName: 'charge', runId },
    });
    expect(stats.executions).toBe(1);
    expect(world.fake.ledger.list('charge').map((c) => c.customer)).toEqual([ids.ben]);
    expect(RunStoppedError.isInstance(abortController.signal.reason)).toBe(true);
  });

  it('a run whose key was revoked before it started is refused from the first step (key_invalid)', async () => {
    const ids = await world.customers('ben');
    const billing = guarded();
    const mastra = workflowMastra({ billOrder: billOrderWorkflow(billing.tools.charge, { retries: 2 }) });
    const run = await mastra.getWorkflow('billOrder').createRun();
    const runKey = await world.guard.keys.derive(world.rootToken, { runId: run.runId });
    await world.guard.keys.revoke(runKey.id);
    const result = await run.start({
      inputData: { customer: ids.ben as string, amountCents: 1000, currency: 'usd', orderId: 'ord_1' },
    });
    expect(result.status).toBe('tripwire');
    expect(result.status === 'tripwire' && result.tripwire?.metadata).toMatchObject({ code: 'key_invalid' });
    // Mastra's retries re-ran the refused step; none of them reached the tool.
    expect(billing.stats.executions).toBe(0);
    expect(world.fake.ledger.count('charge')).toBe(0);
  });
});

describe('isRunStop', () => {
  it('is true for the refusals of a key that can no longer act, and nothing else', () => {
    const refusal = (code: string) => ({ refused: true, code, reason: 'r', advice: 'a' });
    expect(['key_revoked', 'key_expired', 'key_invalid'].map((c) => isRunStop(refusal(c)))).toEqual([
      true,
      true,
      true,
    ]);
    expect(isRunStop(refusal('cap_exceeded'))).toBe(false);
    expect(isRunStop({ code: 'key_revoked' })).toBe(false);
    expect(isRunStop('key_revoked')).toBe(false);
  });
});
