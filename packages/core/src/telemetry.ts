import type { Attributes, Span, Tracer } from '@opentelemetry/api';

/**
 * OpenTelemetry spans for the pipeline's steps, through `@opentelemetry/api` when the application
 * has it installed (an optional peer: no SDK here, and nothing happens without one). Attributes
 * are ours — vendor, operation, decision, code, cost, key id — never a token, a secret or a param.
 */
type Api = typeof import('@opentelemetry/api');

let api: Api | undefined;
/** A proxy tracer: it follows whichever provider the application registers, before or after. */
let tracer: Tracer | undefined;
let loading: Promise<void> | undefined;
/** What a provider delegates to before an SDK registers one: nothing records, so no span is made. */
let noopProvider: unknown;

/** Start loading the API once (the guard calls this when it is made); spans begin once it is in. */
export function loadTelemetry(): Promise<void> {
  loading ??= import('@opentelemetry/api').then(
    (module) => {
      api = module;
      tracer = module.trace.getTracer('@spendguard/core');
      noopProvider = new module.ProxyTracerProvider().getDelegate();
    },
    () => {
      // Not installed: spans stay off.
    },
  );
  return loading;
}

/** The span names, stable for dashboards. */
export const SPANS = {
  execute: 'spendguard.execute',
  begin: 'spendguard.begin',
  vendorCall: 'spendguard.vendor_call',
  finish: 'spendguard.finish',
} as const;

/**
 * Run `fn` inside a span (a child of the active one) when tracing is on; `end` names the outcome
 * on the span before it ends. Without the API or a recording tracer, `fn` runs as it is.
 */
export async function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
  end?: (result: T) => Attributes,
): Promise<T> {
  if (!tracer || !api || !tracing(api)) return fn();
  const otel = api;
  return tracer.startActiveSpan(name, { attributes }, async (span: Span) => {
    try {
      const result = await fn();
      if (end && span.isRecording()) span.setAttributes(end(result));
      return result;
    } catch (error) {
      span.setStatus({ code: otel.SpanStatusCode.ERROR, message: (error as Error)?.name ?? 'error' });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * An SDK has registered a provider (checked per call: it may register after the guard is made).
 * Without one the API's no-op spans still cost a context switch per step, on every call.
 */
function tracing(otel: Api): boolean {
  const provider = otel.trace.getTracerProvider();
  return !(provider instanceof otel.ProxyTracerProvider) || provider.getDelegate() !== noopProvider;
}

/** Attributes of a decision: what was decided, its code, and what it cost. */
export function decisionAttributes(decision: {
  decision: string;
  code?: string;
  actualCostUsd?: number | null;
  estimatedCostUsd?: number | null;
}): Attributes {
  const { code, estimatedCostUsd, actualCostUsd } = decision;
  return {
    'spendguard.decision': decision.decision,
    ...(code != null && { 'spendguard.code': code }),
    ...(estimatedCostUsd != null && { 'spendguard.cost.estimated_usd': estimatedCostUsd }),
    ...(actualCostUsd != null && { 'spendguard.cost.actual_usd': actualCostUsd }),
  };
}

/**
 * Run `fn` as part of the trace an incoming request carries (`traceparent`, through the
 * propagator the application registered), so a front end's spans continue its caller's trace.
 */
export function withRemoteParent<T>(headers: Headers, fn: () => Promise<T>): Promise<T> {
  if (!api) return fn();
  const parent = api.propagation.extract(api.context.active(), headers, {
    keys: (carrier: Headers) => [...carrier.keys()],
    get: (carrier: Headers, name: string) => carrier.get(name) ?? undefined,
  });
  return api.context.with(parent, fn);
}
