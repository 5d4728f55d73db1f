import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGuard } from './guard.ts';
import { MemoryStore } from './stores/memory-store.ts';
import { loadTelemetry, SPANS } from './telemetry.ts';

const SECRET = 'sk_test_telemetry_REAL_secret_0123456789';
const exporter = new InMemorySpanExporter();
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(async () => {
  contextManager.enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  await loadTelemetry();
  process.env.SG_TELEMETRY_TEST_STRIPE = SECRET;
});
afterAll(() => {
  trace.disable();
  context.disable();
  delete process.env.SG_TELEMETRY_TEST_STRIPE;
});
beforeEach(() => exporter.reset());

async function setup() {
  const guard = createGuard({
    store: new MemoryStore(),
    policies: {
      policies: { billing: { stripe: { allow: [{ 'POST /v1/charges': { amount: { max: 5000 } } }] } } },
      credentials: { stripe: { env: 'SG_TELEMETRY_TEST_STRIPE' } },
    },
  });
  const root = await guard.keys.issueRoot({ policy: 'billing' });
  const charge = (cents: number) => ({
    key: root.token,
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: String(cents), currency: 'usd', customer: 'cus_1' },
  });
  // A careless vendor function that touches the secret: it must never reach a span.
  const vendor = async (ctx: { credential: string }) => ({ id: `ch_${ctx.credential.length}`, amount: 1200 });
  return { guard, root, charge, vendor };
}

const named = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);
const only = (name: string) => {
  const spans = named(name);
  expect(spans).toHaveLength(1);
  return spans[0] as ReadableSpan;
};
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe('OpenTelemetry spans', () => {
  it('an executed call: execute, with begin, the vendor call and finish as its children, and what was decided', async () => {
    const { guard, root, charge, vendor } = await setup();
    const caller = trace.getTracer('test').startSpan('agent.tool');
    await context.with(trace.setSpan(context.active(), caller), () => guard.execute(charge(1200), vendor));
    caller.end();

    const execute = only(SPANS.execute);
    expect(parentOf(execute)).toBe(caller.spanContext().spanId);
    expect(execute.spanContext().traceId).toBe(caller.spanContext().traceId);
    for (const step of [SPANS.begin, SPANS.vendorCall, SPANS.finish]) {
      expect(parentOf(only(step))).toBe(execute.spanContext().spanId);
    }
    expect(execute.attributes).toMatchObject({
      'spendguard.decision': 'executed',
      'spendguard.code': 'executed',
      'spendguard.key_id': root.id,
      'spendguard.vendor': 'stripe',
      'spendguard.operation': 'POST /v1/charges',
      'spendguard.cost.estimated_usd': 12,
    });
    expect(only(SPANS.begin).attributes).toMatchObject({
      'spendguard.begin': 'proceed',
      'spendguard.key_id': root.id,
    });
    expect(only(SPANS.finish).attributes).toMatchObject({
      'spendguard.outcome': 'completed',
      'spendguard.decision': 'executed',
    });
  });

  it('a replay and a denial: no vendor call span, and the decision and code on execute', async () => {
    const { guard, charge, vendor } = await setup();
    await guard.execute(charge(1200), vendor);
    exporter.reset();
    await guard.execute(charge(1200), vendor);
    expect(only(SPANS.begin).attributes['spendguard.begin']).toBe('replay');
    expect(only(SPANS.execute).attributes).toMatchObject({ 'spendguard.decision': 'replayed' });
    expect(named(SPANS.vendorCall)).toEqual([]);
    exporter.reset();
    await guard.execute(charge(9000), vendor);
    expect(only(SPANS.execute).attributes).toMatchObject({
      'spendguard.decision': 'denied',
      'spendguard.code': 'param_not_allowed',
    });
    expect(named(SPANS.vendorCall)).toEqual([]);
  });

  it('never puts a token, a secret or a param value in a span, even for a hostile vendor name or path', async () => {
    const { guard, root, charge, vendor } = await setup();
    await guard.execute(charge(1200), vendor);
    await guard.execute({ ...charge(100), vendor: root.token }, vendor);
    await guard.execute({ ...charge(100), path: `/v1/charges/${root.token}` }, vendor);
    await guard.execute({ ...charge(100), key: `${root.token}x` }, vendor);
    const text = JSON.stringify(exporter.getFinishedSpans().map((s) => [s.name, s.attributes, s.status]));
    expect(exporter.getFinishedSpans().length).toBeGreaterThan(4);
    for (const leak of [root.token, root.token.slice(6), SECRET, 'cus_1']) expect(text).not.toContain(leak);
  });
});
