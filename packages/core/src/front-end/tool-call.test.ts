import { beforeEach, describe, expect, it } from 'vitest';
import { RunStoppedError, SpendguardError, StoreUnavailableError } from '../errors.ts';
import { createGuard, type Guard } from '../guard.ts';
import { currentRun } from '../run-binding.ts';
import { MemoryStore } from '../stores/memory-store.ts';
import { ADVICE } from './model-sentences.ts';
import { RunKeys } from './run-keys.ts';
import { guardToolCall, type ToolCallSettings } from './tool-call.ts';

let guard: Guard;
let root: { id: string; token: string };
let settings: ToolCallSettings;

beforeEach(async () => {
  guard = createGuard({
    policies: { policies: { agent: { stripe: { allow: ['POST /v1/charges'] } } } },
    store: new MemoryStore(),
  });
  root = await guard.keys.issueRoot({ policy: 'agent' });
  settings = {
    guard,
    runKeys: new RunKeys({ guard, key: root.token, runIdPrefix: 'test-' }),
    name: 'charge',
    agentId: 'billing-agent',
  };
});

/** A tool that counts its runs and returns the run number. */
function counter() {
  const tool = { runs: 0, run: async () => ({ charged: ++tool.runs }) };
  return tool;
}

async function toolRows() {
  return (await guard.audit.list()).filter((r) => r.vendor === 'tool');
}

describe('guardToolCall', () => {
  it('runs the tool once per input under its run key; a duplicate gets the stored result', async () => {
    const tool = counter();
    const input = { customer: 'cus_1', amount: 500 };
    const first = await guardToolCall(settings, { input, toolCallId: 'call_1', runId: 'r1', run: tool.run });
    const again = await guardToolCall(settings, { input, toolCallId: 'call_2', runId: 'r2', run: tool.run });
    expect(first).toEqual({ kind: 'result', value: { charged: 1 } });
    expect(again).toEqual({ kind: 'result', value: { charged: 1 } });
    expect(tool.runs).toBe(1);
    const r1 = await guard.keys.derive(root.token, { runId: 'r1' });
    expect((await toolRows()).map((r) => [r.decision, r.runId, r.toolCallId, r.agentId, r.keyId])).toEqual([
      ['executed', 'r1', 'call_1', 'billing-agent', r1.id],
      ['replayed', 'r2', 'call_2', 'billing-agent', expect.any(String)],
    ]);
  });

  it('runs a call that names no run under the default run', async () => {
    await guardToolCall(settings, { input: {}, run: counter().run });
    expect((await toolRows())[0]?.runId).toBe(settings.runKeys.defaultRunId);
  });

  it("binds the context into the checkpoint (less its runId): two customers' calls are two calls", async () => {
    const tool = counter();
    const call = (context: unknown) =>
      guardToolCall(settings, { input: { amount: 5 }, context, run: tool.run });
    expect(await call({ customer: 'alice' })).toEqual({ kind: 'result', value: { charged: 1 } });
    expect(await call({ customer: 'bob' })).toEqual({ kind: 'result', value: { charged: 2 } });
    expect(await call({ customer: 'alice', runId: 'elsewhere' })).toEqual({
      kind: 'result',
      value: { charged: 1 },
    });
    expect(tool.runs).toBe(2);
  });

  it('binds the run around the tool, so governed clients inside find its key and approval', async () => {
    const bindings: unknown[] = [];
    await guardToolCall(settings, {
      input: {},
      toolCallId: 'call_1',
      runId: 'r1',
      approvedBy: 'ana@shop.example',
      run: async () => bindings.push(currentRun()),
    });
    const r1 = await guard.keys.derive(root.token, { runId: 'r1' });
    const bound = bindings[0] as { key: string };
    expect(bound).toMatchObject({
      runId: 'r1',
      toolCallId: 'call_1',
      agentId: 'billing-agent',
      approvedBy: 'ana@shop.example',
    });
    expect((await guard.keys.authenticate(bound.key)) as { key: { id: string } }).toMatchObject({
      key: { id: r1.id },
    });
  });

  it('keys the checkpoint on fields, or on a business key computed from the call', async () => {
    const tool = counter();
    const byFields = { ...settings, fields: ['amount'] };
    await guardToolCall(byFields, { input: { amount: 5, note: 'a' }, run: tool.run });
    await guardToolCall(byFields, { input: { amount: 5, note: 'b' }, run: tool.run });
    expect(tool.runs).toBe(1);

    const seen: unknown[] = [];
    const byOrder = {
      ...settings,
      idempotencyKey: (input: unknown, call: unknown) => {
        seen.push(call);
        return `order:${(input as { orderId: string }).orderId}`;
      },
    };
    const context = { customer: 'alice' };
    await guardToolCall(byOrder, {
      input: { orderId: 'o1' },
      toolCallId: 'c1',
      runId: 'r1',
      context,
      run: tool.run,
    });
    expect(seen).toEqual([{ toolName: 'charge', toolCallId: 'c1', runId: 'r1', context }]);
    expect((await toolRows()).at(-1)?.idempotencyKey).toBe('order:o1');
  });

  it('turns a refusal inside the tool into a refusal the model reads', async () => {
    const outcome = await guardToolCall(settings, {
      input: { amount: 5 },
      run: async () => {
        const binding = currentRun();
        const payout = await guard.execute(
          { key: binding?.key as string, vendor: 'stripe', method: 'POST', path: '/v1/payouts', params: {} },
          async () => ({}),
        );
        throw new Error(payout.message);
      },
    });
    expect(outcome).toEqual({
      kind: 'refusal',
      refusal: {
        refused: true,
        code: 'operation_not_allowed',
        reason: expect.stringContaining('/v1/payouts'),
        advice: ADVICE.denied,
      },
    });
  });

  it("stops the run when the run's key is revoked: a refusal for the model and a RunStoppedError", async () => {
    const tool = counter();
    await guardToolCall(settings, { input: { order: 1 }, runId: 'r1', run: tool.run });
    // An operator pulls the run's key while the run goes on.
    await guard.keys.revoke((await guard.keys.derive(root.token, { runId: 'r1' })).id);
    const outcome = await guardToolCall(settings, { input: { order: 2 }, runId: 'r1', run: tool.run });
    expect(tool.runs).toBe(1);
    if (outcome.kind !== 'stop') throw new Error(`expected a stop, got ${outcome.kind}`);
    expect(outcome.refusal).toMatchObject({ refused: true, code: 'key_revoked', advice: ADVICE.denied });
    expect(outcome.error).toBeInstanceOf(RunStoppedError);
    expect(outcome.error.code).toBe('key_revoked');
    expect(outcome.error.decision).toMatchObject({ decision: 'denied', code: 'key_revoked' });
  });

  it('stops the run when no run key can be derived: the root key cannot act', async () => {
    const tool = counter();
    await guard.keys.revoke(root.id);
    const outcome = await guardToolCall(settings, { input: {}, run: tool.run });
    expect(tool.runs).toBe(0);
    if (outcome.kind !== 'stop') throw new Error(`expected a stop, got ${outcome.kind}`);
    expect(outcome.refusal).toEqual({
      refused: true,
      code: 'key_invalid',
      reason: expect.stringContaining('revoked'),
      advice: ADVICE.runKeyInvalid,
    });
    expect(outcome.error.code).toBe('key_invalid');
    expect(outcome.error.message).toBe(outcome.refusal.reason);
    expect(SpendguardError.isInstance(outcome.error.cause)).toBe(true);
  });

  it('refuses without stopping when the store is down while deriving; rejects for anything else', async () => {
    let failure: unknown = new StoreUnavailableError('connection refused');
    const failing = {
      keys: {
        derive: async () => {
          throw failure;
        },
      },
    } as unknown as Guard;
    const unbound = { ...settings, runKeys: new RunKeys({ guard: failing, key: root.token }) };
    const tool = counter();
    expect(await guardToolCall(unbound, { input: {}, run: tool.run })).toEqual({
      kind: 'refusal',
      refusal: {
        refused: true,
        code: 'store_unavailable',
        reason: 'the spendguard store is unavailable, so the call was not made: connection refused',
        advice: ADVICE.storeUnavailable,
      },
    });
    failure = new SpendguardError('narrowing_violation', 'run r1 was derived with other caps');
    await expect(guardToolCall(unbound, { input: {}, run: tool.run })).rejects.toBe(failure);
    failure = new Error('a bug');
    await expect(guardToolCall(unbound, { input: {}, run: tool.run })).rejects.toBe(failure);
    expect(tool.runs).toBe(0);
  });
});
