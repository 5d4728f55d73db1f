import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { SPANS } from '@spendguard/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWorld, type World } from './test-world.ts';

const exporter = new InMemorySpanExporter();
let world: World;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  world = await startWorld();
});
afterAll(async () => {
  await world.close();
  trace.disable();
  propagation.disable();
  context.disable();
});

it("continues the caller's trace: the guard's spans are children of the incoming traceparent", async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parentId = '00f067aa0ba902b7';
  const response = await fetch(`${world.proxy.url}/v1/charges`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${world.rootToken}`,
      'content-type': 'application/x-www-form-urlencoded',
      traceparent: `00-${traceId}-${parentId}-01`,
    },
    body: 'amount=1500&currency=usd&source=tok_visa',
  });
  expect(response.status).toBe(200);
  const execute = exporter.getFinishedSpans().find((s) => s.name === SPANS.execute);
  expect(execute?.spanContext().traceId).toBe(traceId);
  expect(execute?.parentSpanContext?.spanId).toBe(parentId);
  expect(execute?.attributes).toMatchObject({
    'spendguard.decision': 'executed',
    'spendguard.vendor': 'stripe',
    'spendguard.key_id': world.rootId,
  });
  const text = JSON.stringify(exporter.getFinishedSpans().map((s) => s.attributes));
  expect(text).not.toContain(world.rootToken.slice(6));
  expect(text).not.toContain('sk_test_proxy_REAL');
});
