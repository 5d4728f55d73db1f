import { Agent } from '@mastra/core/agent';
import { noopLogger } from '@mastra/core/logger';
import { createTool } from '@mastra/core/tools';
import { currentRun } from '@spendguard/core';
import { BillingWorld, chargeCall, FAKE_STRIPE_SECRET, type Turn } from '@spendguard/testkit/adapters';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { guardTools } from './guard-tools.ts';
import { spendguardKillSwitch } from './kill-switch.ts';
import { redactor, scrubbedError } from './scrubbed-error.ts';
import { billingTools } from './testing/billing.ts';
import { drive } from './testing/drive.ts';
import { asAgentModel, promptsOf, scriptedModel } from './testing/scripted-model.ts';
import { billOrderWorkflow, workflowMastra } from './testing/workflows.ts';

const VAULT_TOKEN = /sk_sg_[0-9a-f]{16,}/;

describe('scrubbedError', () => {
  const redact = redactor((text) => text.replaceAll('sk_live_secret_value', '[redacted]'));

  it('keeps an error that shows no secret as it is', () => {
    const error = new Error('the orders database timed out');
    expect(scrubbedError(error, redact)).toBe(error);
  });

  it('copies one that does, without the secret anywhere: message, stack, cause, fields', () => {
    const token = `sk_sg_${'ab'.repeat(8)}${'cd'.repeat(24)}`;
    const leaky = Object.assign(
      new Error(`auth failed for ${token}`, { cause: new Error('sk_live_secret_value') }),
      {
        code: 'E_AUTH',
        headers: { authorization: `Bearer ${token}` },
      },
    );
    leaky.name = 'UpstreamError';
    const copy = scrubbedError(leaky, redact) as Error & { code?: string };
    expect(copy).not.toBe(leaky);
    expect([copy.name, copy.code, copy.message]).toEqual([
      'UpstreamError',
      'E_AUTH',
      'auth failed for [redacted]',
    ]);
    expect(copy.cause).toBeUndefined();
    expect(JSON.stringify({ ...copy, stack: copy.stack })).not.toMatch(VAULT_TOKEN);
    expect(String(copy.stack)).not.toContain('sk_live_secret_value');
  });
});

describe('no vendor secret or vault-key token in what Mastra and the model get, or in the audit', () => {
  const world = new BillingWorld();
  beforeAll(() => world.start());
  afterAll(() => world.stop());
  beforeEach(() => world.reset());

  /** A tool whose error echoes its run's vault key, as a careless HTTP client echoes its headers. */
  function leakyTool() {
    return createTool({
      id: 'sync',
      description: 'Sync the ledger.',
      inputSchema: z.object({ orderId: z.string() }),
      outputSchema: z.object({ synced: z.boolean() }),
      execute: async () => {
        throw new Error(`upstream 401 with Authorization: Bearer ${currentRun()?.key}`);
      },
    });
  }

  it('holds across results, replays, denials, caps, a stop, a leaking tool, agents and workflows', async () => {
    const ids = await world.customers('ada', 'bob');
    const seen: unknown[] = [];
    const { tools } = billingTools(world.governedStripe());
    const guarded = guardTools(
      { ...tools, sync: leakyTool() },
      {
        guard: world.guard,
        key: world.rootToken,
        runId: 'secrets-run',
        runKey: { caps: { perRun: 60 } },
      },
    );
    const script: Turn[] = [
      { calls: [chargeCall(ids.ada, 4999, 'ord_1'), chargeCall(ids.ada, 4999, 'ord_1')] },
      { calls: [chargeCall(ids.bob, 90_000, 'ord_2'), chargeCall(ids.bob, 2000, 'ord_3')] },
      { calls: [{ tool: 'sync', input: { orderId: 'ord_1' } }] },
      { calls: [chargeCall(ids.bob, 100, 'ord_4')] },
      { text: 'Done.' },
    ];
    const model = scriptedModel(async (n) => {
      if (n === 3) await world.revokeRun('secrets-run');
      return script[n] ?? { text: 'Done.' };
    });
    const agent = new Agent({
      id: 'billing-agent',
      name: 'billing-agent',
      instructions: 'Bill.',
      model: asAgentModel(model),
      tools: guarded,
      inputProcessors: [spendguardKillSwitch()],
    });
    agent.__setLogger(noopLogger);
    const run = await drive('stream', agent, 'Bill everyone.');
    seen.push(run, promptsOf(model));
    const codes = run.calls.map((c) => (c.output as { code?: string }).code ?? 'ok');
    expect(codes).toEqual(['ok', 'ok', 'param_not_allowed', 'cap_exceeded', 'vendor_error', 'key_revoked']);
    expect(run.tripwire?.metadata).toMatchObject({ code: 'key_revoked' });

    // The same leaking tool as a workflow step: its error is rethrown for Mastra's retries.
    await world.reset();
    const sync = guardTools({ sync: leakyTool() }, { guard: world.guard, key: world.rootToken }).sync;
    const mastra = workflowMastra({
      billOrder: billOrderWorkflow(
        guardTools(billingTools(world.governedStripe()).tools, { guard: world.guard, key: world.rootToken })
          .charge,
      ),
    });
    const { createWorkflow, createStep } = await import('@mastra/core/workflows');
    const syncFlow = createWorkflow({
      id: 'sync',
      inputSchema: z.object({ orderId: z.string() }),
      outputSchema: z.any(),
    })
      .then(createStep(sync, { retries: 1 }))
      .commit();
    const flows = workflowMastra({ syncFlow });
    const failed = await (await flows.getWorkflow('syncFlow').createRun()).start({
      inputData: { orderId: 'o1' },
    });
    expect(failed.status).toBe('failed');
    expect(failed.status === 'failed' && failed.error?.message).toBe(
      'upstream 401 with Authorization: Bearer [redacted]',
    );
    const denied = await (await mastra.getWorkflow('billOrder').createRun()).start({
      inputData: { customer: ids.bob as string, amountCents: 90_000, currency: 'usd', orderId: 'o2' },
    });
    expect(denied.status).toBe('tripwire');
    seen.push(failed, denied);

    const text = JSON.stringify(seen, (_k, v) =>
      v instanceof Error ? { message: v.message, stack: v.stack } : v,
    );
    expect(text).not.toContain(FAKE_STRIPE_SECRET);
    expect(text).not.toMatch(VAULT_TOKEN);
    const rows = (await world.guard.audit.list()).map((r) => JSON.stringify(r)).join('\n');
    expect(rows).not.toContain(FAKE_STRIPE_SECRET);
    // Core redacts vault tokens from what a failing tool says, so every row is clean, the leaking tool's too.
    expect(rows).toContain('CALL sync');
    expect(rows).not.toMatch(VAULT_TOKEN);
  });
});
