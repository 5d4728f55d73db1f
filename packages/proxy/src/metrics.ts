import type { Guard } from '@spendguard/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Root keys whose spend a scrape reports, at most: a bound on the series one proxy exposes. */
const MAX_ROOT_KEYS = 1000;

/**
 * The proxy's Prometheus metrics, in a registry of its own (two proxies in one process never
 * mix). Every label value is ours — a vendor name, a decision code, a key id, a window name —
 * never a token, a secret or a piece of the request.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  readonly #decisions = new Counter({
    name: 'spendguard_proxy_decisions_total',
    help: 'Requests answered, by vendor and spendguard decision code (executed, replayed, cap_exceeded, …).',
    labelNames: ['vendor', 'code'] as const,
    registers: [this.registry],
  });
  readonly #upstream = new Histogram({
    name: 'spendguard_proxy_upstream_duration_seconds',
    help: 'Time the vendor took to answer one call (headers and body), by vendor.',
    labelNames: ['vendor'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly #pipeline = new Histogram({
    name: 'spendguard_proxy_pipeline_duration_seconds',
    help: "Time the proxy itself took for one request (checks, the guard's store steps), the vendor's time left out, by vendor.",
    labelNames: ['vendor'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  constructor(guard: Guard) {
    // Read from the store at each scrape, so every proxy sharing it reports the same spend.
    new Gauge({
      name: 'spendguard_proxy_spend_usd',
      help: 'USD spent or reserved under each active root key (an agent role), by window: lifetime, hour (this UTC hour), day (this UTC day).',
      labelNames: ['root_key', 'window'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        try {
          const roots = await guard.store.listKeys({
            parentId: null,
            state: 'active',
            now: Date.now(),
            limit: MAX_ROOT_KEYS,
          });
          for (const root of roots) {
            const spend = await guard.spend(root.id);
            this.set({ root_key: root.id, window: 'lifetime' }, spend.lifetimeUsd);
            this.set({ root_key: root.id, window: 'hour' }, spend.hourUsd);
            this.set({ root_key: root.id, window: 'day' }, spend.dayUsd);
          }
        } catch {
          // The store is down: /healthz says so; the other metrics are still worth a scrape.
        }
      },
    });
  }

  decision(vendor: string, code: string): void {
    this.#decisions.inc({ vendor, code });
  }

  upstream(vendor: string, ms: number): void {
    this.#upstream.observe({ vendor }, ms / 1000);
  }

  pipeline(vendor: string, ms: number): void {
    this.#pipeline.observe({ vendor }, ms / 1000);
  }

  /** The text exposition format, for `/metrics`. */
  async scrape(): Promise<Response> {
    return new Response(await this.registry.metrics(), {
      headers: { 'content-type': this.registry.contentType },
    });
  }
}
