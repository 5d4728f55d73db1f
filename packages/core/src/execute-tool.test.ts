import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { createGuard, type Guard } from './guard.ts';
import { MemoryStore } from './stores/memory-store.ts';

let guard: Guard;
let token: string;
let rootId: string;

beforeEach(async () => {
  guard = createGuard({
    policies: { policies: { agent: { stripe: { allow: ['POST /v1/charges'] } } } },
    store: new MemoryStore(),
  });
  const root = await guard.keys.issueRoot({ policy: 'agent' });
  token = root.token;
  rootId = root.id;
});

function counter() {
  const c = {
    runs: 0,
    fn: async () => {
      c.runs++;
      await sleep(10);
      return { charged: c.runs };
    },
  };
  return c;
}

describe('guard.executeTool', () => {
  it('runs a tool once per input and replays its result for a duplicate, across runs of one root key', async () => {
    const tool = counter();
    const runA = await guard.keys.derive(token, { runId: 'a' });
    const runB = await guard.keys.derive(token, { runId: 'b' });
    const input = { customer: 'cus_1', amount: 500 };
    const first = await guard.executeTool(
      { key: runA.token, tool: 'charge', input, toolCallId: 'call_1' },
      tool.fn,
    );
    const again = await guard.executeTool(
      { key: runB.token, tool: 'charge', input: { amount: 500, customer: 'cus_1' }, toolCallId: 'call_9' },
      tool.fn,
    );
    expect(first).toMatchObject({ decision: 'executed', result: { charged: 1 } });
    expect(again).toMatchObject({ decision: 'replayed', result: { charged: 1 } });
    const other = await guard.executeTool(
      { key: runA.token, tool: 'charge', input: { ...input, amount: 600 } },
      tool.fn,
    );
    expect(other.decision).toBe('executed');
    expect(tool.runs).toBe(2);
    const rows = await guard.audit.list();
    expect(rows.map((r) => [r.vendor, r.operation, r.toolCallId, r.rootKeyId])).toEqual([
      ['tool', 'CALL charge', 'call_1', rootId],
      ['tool', 'CALL charge', 'call_9', rootId],
      ['tool', 'CALL charge', null, rootId],
    ]);
  });

  it('keys on the named billing fields only', async () => {
    const tool = counter();
    const call = (note: string) =>
      guard.executeTool(
        {
          key: token,
          tool: 'charge',
          input: { customer: 'cus_1', amount: 500, note },
          fields: ['customer', 'amount'],
        },
        tool.fn,
      );
    await call('first try');
    expect((await call('the model reworded this')).decision).toBe('replayed');
    expect(tool.runs).toBe(1);
  });

  it('runs concurrent identical calls once', async () => {
    const tool = counter();
    const decisions = await Promise.all(
      Array.from({ length: 10 }, () =>
        guard.executeTool({ key: token, tool: 'charge', input: { amount: 1 } }, tool.fn),
      ),
    );
    expect(tool.runs).toBe(1);
    expect(decisions.every((d) => 'result' in d && (d.result as { charged: number }).charged === 1)).toBe(
      true,
    );
  });

  it('lets a tool that threw run again, and refuses a revoked key without running', async () => {
    let runs = 0;
    const flaky = async () => {
      runs++;
      if (runs === 1) throw new Error('the receipt service is down');
      return { ok: true };
    };
    expect(await guard.executeTool({ key: token, tool: 'refund', input: { id: 1 } }, flaky)).toMatchObject({
      decision: 'failed',
      code: 'vendor_error',
    });
    expect((await guard.executeTool({ key: token, tool: 'refund', input: { id: 1 } }, flaky)).decision).toBe(
      'executed',
    );
    await guard.keys.revoke(rootId);
    expect(await guard.executeTool({ key: token, tool: 'refund', input: { id: 2 } }, flaky)).toMatchObject({
      decision: 'denied',
      code: 'key_revoked',
    });
    expect(runs).toBe(2);
  });
});

describe('toolRefusal', () => {
  it('tells the model what was refused and that retrying will not help; stops the run on a revoked key', async () => {
    const { toolRefusal, stopsTheRun } = await import('./front-end/tool-refusal.ts');
    const denied = await guard.execute(
      { key: token, vendor: 'stripe', method: 'POST', path: '/v1/payouts', params: {} },
      async () => ({}),
    );
    expect(toolRefusal(denied)).toMatchObject({
      refused: true,
      code: 'operation_not_allowed',
      reason: expect.stringContaining('/v1/payouts'),
      advice: expect.stringContaining('Retrying will not help'),
    });
    expect(stopsTheRun(denied)).toBe(false);
    await guard.keys.revoke(rootId);
    const revoked = await guard.executeTool({ key: token, tool: 'charge', input: {} }, async () => ({}));
    expect(stopsTheRun(revoked)).toBe(true);
  });
});

describe('approvals asked through a framework', () => {
  it('says when a call needs approval, and lets it through when a human approved it in the framework', async () => {
    const approving = createGuard({
      policies: {
        policies: {
          agent: {
            stripe: { allow: ['POST /v1/charges'] },
            approval: { above: 100 },
            caps: { perCall: 1000 },
          },
        },
      },
      store: new MemoryStore(),
    });
    const { token: key } = await approving.keys.issueRoot({ policy: 'agent' });
    const big = {
      key,
      vendor: 'stripe',
      method: 'POST',
      path: '/v1/charges',
      params: { amount: 20_000, currency: 'usd' },
    };
    const small = { ...big, params: { amount: 500, currency: 'usd' } };
    expect(await approving.needsApproval(big)).toBe(true); // $200, priced by the Stripe profile
    expect(await approving.needsApproval(small)).toBe(false);
    // Above the per-call cap it would be refused anyway: no human is asked.
    expect(await approving.needsApproval({ ...big, params: { amount: 100_001, currency: 'usd' } })).toBe(
      false,
    );
    expect((await approving.execute(big, async () => ({ id: 'ch_1' }))).decision).toBe('needs_approval');
    const approved = await approving.execute({ ...big, approvedBy: 'ai-sdk tool approval' }, async () => ({
      id: 'ch_1',
    }));
    expect(approved.decision).toBe('executed');
    expect((await approving.audit.list()).at(-1)?.message).toBe('approved by ai-sdk tool approval');
  });
});

describe('refusals inside a tool', () => {
  it('reports the refusal of a guarded call inside the tool, not a bare failure, and stops on a revoked key', async () => {
    const run = await guard.keys.derive(token, { runId: 'r1' });
    // The tool makes a vendor call through the guard (as a governed client would), bound to the run.
    const payout = () =>
      guard.executeTool(
        { key: run.token, tool: 'payout', input: { amount: 5 }, runId: 'r1', toolCallId: 'call_1' },
        async () => {
          const { currentRun } = await import('./run-binding.ts');
          const binding = currentRun();
          expect(binding).toMatchObject({ key: run.token, runId: 'r1', toolCallId: 'call_1' });
          const inner = await guard.execute(
            {
              key: binding?.key as string,
              vendor: 'stripe',
              method: 'POST',
              path: '/v1/payouts',
              params: { amount: 5 },
            },
            async () => ({}),
          );
          if (inner.decision !== 'executed') throw new Error(`Stripe said: ${inner.message}`);
          return inner.result;
        },
      );
    const refused = await payout();
    expect(refused).toMatchObject({ decision: 'denied', code: 'operation_not_allowed' });
    const rows = await guard.audit.list();
    expect(rows.at(-1)).toMatchObject({
      vendor: 'tool',
      decision: 'denied',
      code: 'operation_not_allowed',
      toolCallId: 'call_1',
    });

    const charge = () =>
      guard.executeTool({ key: run.token, tool: 'charge', input: { amount: 5 } }, async () => {
        await guard.keys.revoke(rootId); // revoked while the tool runs
        const inner = await guard.execute(
          {
            key: run.token,
            vendor: 'stripe',
            method: 'POST',
            path: '/v1/charges',
            params: { amount: 5, currency: 'usd' },
          },
          async () => ({}),
        );
        if (inner.decision !== 'executed') throw new Error(inner.message);
        return inner.result;
      });
    const { stopsTheRun } = await import('./front-end/tool-refusal.ts');
    const revoked = await charge();
    expect(revoked).toMatchObject({ decision: 'denied', code: 'key_revoked' });
    expect(stopsTheRun(revoked)).toBe(true);
  });
});
