import { Counter, Histogram, Registry } from 'prom-client';

/** The admin API's Prometheus metrics, in a registry of its own. Labels are ours, never a token. */
export class AdminMetrics {
  readonly registry = new Registry();
  readonly #requests = new Histogram({
    name: 'spendguard_admin_request_duration_seconds',
    help: 'Admin API requests, by route and status.',
    labelNames: ['route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly #unauthorized = new Counter({
    name: 'spendguard_admin_unauthorized_total',
    help: 'Admin API requests refused for a missing or wrong admin token.',
    registers: [this.registry],
  });

  request(route: string, status: number, seconds: number): void {
    this.#requests.observe({ route, status: String(status) }, seconds);
  }

  unauthorized(): void {
    this.#unauthorized.inc();
  }
}
