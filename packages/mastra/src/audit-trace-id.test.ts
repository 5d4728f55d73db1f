import { Agent } from '@mastra/core/agent';
import { noopLogger } from '@mastra/core/logger';
import { InMemoryStore } from '@mastra/core/storage';
import { Memory } from '@mastra/memory';
import { sha256Hex, TOKEN_PREFIX } from '@spendguard/core';
import { BillingWorld, chargeCall, FAKE_STRIPE_SECRET } from '@spendguard/testkit/adapters';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditTraceId } from './audit-trace-id.ts';
import { guardTools } from './guard-tools.ts';
import { idOf } from './mastra-call.ts';
import { billingTools } from './testing/billing.ts';
import { drive, MODES } from './testing/drive.ts';
import { asAgentModel, scriptedModel } from './testing/scripted-model.ts';
import { billOrderWorkflow, workflowMastra } from './testing/workflows.ts';

const isSecret = (text: string) => text.includes('sk_live_');

describe('auditTraceId', () => {
  it('names the trace, the thread and the resource; nothing without them', () => {
    expect(
      auditTraceId({ traceId: 'abc123', threadId: 'chat-42', resourceId: 'ada@shop.example' }, isSecret),
    ).toBe('abc123;thread=chat-42;resource=ada@shop.example');
    expect(auditTraceId({ traceId: undefined, threadId: 't', resourceId: undefined }, isSecret)).toBe(
      'thread=t',
    );
    expect(auditTraceId({ traceId: undefined, threadId: undefined, resourceId: undefined }, isSecret)).toBe(
      undefined,
    );
  });

  it('keeps an id that is not plain or could be a secret as its digest', () => {
    const digest = (id: string) => `sha256:${sha256Hex(id)}`;
    const token = `${TOKEN_PREFIX}${'ab'.repeat(16)}`;
    expect(
      auditTraceId({ traceId: undefined, threadId: 'a;resource=bob', resourceId: 'sk_live_x' }, isSecret),
    ).toBe(`thread=${digest('a;resource=bob')};resource=${digest('sk_live_x')}`);
    expect(auditTraceId({ traceId: token, threadId: undefined, resourceId: undefined }, isSecret)).toBe(
      digest(token),
    );
  });

  it('on any ids (as mastraCallOf gives them): parseable back, one value per id, no secret', () => {
    const anyId = fc.option(
      fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.constantFrom('sk_live_abc', `${TOKEN_PREFIX}${'f'.repeat(32)}`, 'x;thread=y', 'a=b', ' ', '💸'),
      ),
      { nil: undefined },
    );
    fc.assert(
      fc.property(anyId, anyId, anyId, (trace, thread, resource) => {
        const call = { traceId: idOf(trace), threadId: idOf(thread), resourceId: idOf(resource) };
        const text = auditTraceId(call, isSecret);
        if (call.traceId === undefined && call.threadId === undefined && call.resourceId === undefined) {
          expect(text).toBeUndefined();
          return;
        }
        expect(text).toBeDefined();
        expect(text).not.toMatch(/\s/);
        expect(text).not.toContain('sk_live_');
        expect(text).not.toContain(TOKEN_PREFIX);
        // The parts come back out, in order: the trace bare, then `thread=` and `resource=`.
        const parts = (text as string).split(';');
        const expected = [
          call.traceId !== undefined && 'trace',
          call.threadId !== undefined && 'thread',
          call.resourceId !== undefined && 'resource',
        ].filter(Boolean);
        expect(parts.map((p) => (p.includes('=') ? p.slice(0, p.indexOf('=')) : 'trace'))).toEqual(expected);
        // Two different threads are never recorded as one.
        if (call.threadId !== undefined) {
          const other = auditTraceId({ ...call, threadId: `${call.threadId}x` }, isSecret);
          expect(other).not.toBe(text);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('the memory’s thread and resource on the audit rows, through a real agent', () => {
  const world = new BillingWorld();
  beforeAll(() => world.start());
  afterAll(() => world.stop());
  beforeEach(() => world.reset());

  it.each(MODES)('%s: the tool’s row and the Stripe row inside it carry them', async (mode) => {
    const ids = await world.customers('ada');
    const { tools } = billingTools(world.governedStripe());
    const guarded = guardTools(tools, { guard: world.guard, key: world.rootToken });
    const memory = new Memory({ storage: new InMemoryStore() });
    const threads = [
      { thread: 'chat-42', resource: 'ada@shop.example' },
      // An app's thread id that holds the vendor secret: only its digest is recorded.
      { thread: `support ${FAKE_STRIPE_SECRET}`, resource: 'ada@shop.example' },
    ];
    for (const [n, thread] of threads.entries()) {
      const model = scriptedModel([{ calls: [chargeCall(ids.ada, 100, `ord_${n}`)] }, { text: 'ok' }]);
      const agent = new Agent({
        id: 'billing-agent',
        name: 'billing-agent',
        instructions: 'Bill.',
        model: asAgentModel(model),
        tools: guarded,
        memory,
      });
      agent.__setLogger(noopLogger);
      const run = await drive(mode, agent, 'Charge Ada $1.', { memory: thread });
      expect(run.calls[0]?.output).toMatchObject({ chargeId: expect.stringMatching(/^ch_/) });
    }
    const rows = await world.guard.audit.list();
    const secretThread = `sha256:${sha256Hex(`support ${FAKE_STRIPE_SECRET}`)}`;
    expect(rows.map((r) => [r.vendor, r.traceId])).toEqual([
      ['stripe', 'thread=chat-42;resource=ada@shop.example'],
      ['tool', 'thread=chat-42;resource=ada@shop.example'],
      ['stripe', `thread=${secretThread};resource=ada@shop.example`],
      ['tool', `thread=${secretThread};resource=ada@shop.example`],
    ]);
    expect(JSON.stringify(rows)).not.toContain(FAKE_STRIPE_SECRET);
  });

  it('a workflow step has no thread: its rows carry no trace id; a traced call carries Mastra’s', async () => {
    const ids = await world.customers('bob');
    const { tools } = billingTools(world.governedStripe());
    const charge = guardTools(tools, { guard: world.guard, key: world.rootToken }).charge;
    const mastra = workflowMastra({ billOrder: billOrderWorkflow(charge) });
    const run = await mastra.getWorkflow('billOrder').createRun();
    const order = { customer: ids.bob as string, amountCents: 200, currency: 'usd' };
    const result = await run.start({ inputData: { ...order, orderId: 'ord_1' } });
    expect(result.status).toBe('success');
    // With an observability exporter Mastra hands the tool its span (no exporter is installed here).
    await charge.execute?.({ ...order, orderId: 'ord_2' }, {
      runId: 'traced-run',
      tracingContext: { currentSpan: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736' } },
      agent: { agentId: 'billing-agent', toolCallId: 'call_1', threadId: 't-1', resourceId: 'bob' },
    } as never);
    const rows = await world.guard.audit.list();
    expect(rows.map((r) => [r.vendor, r.runId, r.traceId])).toEqual([
      ['stripe', run.runId, null],
      ['tool', run.runId, null],
      ['stripe', 'traced-run', '4bf92f3577b34da6a3ce929d0e0e4736;thread=t-1;resource=bob'],
      ['tool', 'traced-run', '4bf92f3577b34da6a3ce929d0e0e4736;thread=t-1;resource=bob'],
    ]);
  });
});
