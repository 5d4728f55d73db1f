import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGuard, type ExecuteRequest, type Guard, SqliteStore, VendorCallError } from '@spendguard/core';
import { type AdminApi, createAdminApi } from './admin-api.ts';
import { type ServedAdmin, serveAdmin } from './serve-admin.ts';

/** The admin token every test world uses, set in this environment variable. */
export const TOKEN_ENV = 'SPENDGUARD_ADMIN_TOKEN_TEST';
export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789abcdef';

/**
 * A guard on SQLite in a temp dir, its admin API, and helpers that make calls happen. `call` goes
 * over HTTP to a real listener on 127.0.0.1 (started at the first call), so the tests see what a
 * client sees: the wire, the status, the headers, the streamed bodies. `api` is the same API
 * in-process, for what only a handler can be asked (an HTTPS origin, say).
 */
export class AdminWorld {
  readonly dir = mkdtempSync(join(tmpdir(), 'spendguard-admin-'));
  readonly file = join(this.dir, 'state.db');
  readonly store = new SqliteStore({ file: this.file });
  readonly guard: Guard = createGuard({
    store: this.store,
    policies: {
      policies: {
        billing: {
          stripe: { allow: ['POST /v1/charges', 'POST /v1/refunds'] },
          caps: { perKey: 1000, perDay: 500, perRun: 100 },
          approval: { above: 300 },
          alerts: [80],
        },
      },
    },
  });
  readonly api: AdminApi;
  #served: Promise<ServedAdmin> | undefined;

  constructor() {
    process.env[TOKEN_ENV] = ADMIN_TOKEN;
    this.api = createAdminApi({ guard: this.guard, token: { env: TOKEN_ENV } });
  }

  /** The admin API on its own loopback listener, as `spendguard serve` runs it. */
  served(): Promise<ServedAdmin> {
    this.#served ??= serveAdmin({ guard: this.guard, token: { env: TOKEN_ENV } });
    return this.#served;
  }

  /** A request over HTTP to the served admin API with the admin token, or the `authorization` given. */
  async call(method: string, path: string, body?: unknown, authorization = `Bearer ${ADMIN_TOKEN}`) {
    const { url } = await this.served();
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/json' },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    const json = response.headers.get('content-type')?.startsWith('application/json')
      ? JSON.parse(text)
      : undefined;
    return { status: response.status, text, json };
  }

  charge(key: string, cents: number, customer = 'cus_1'): ExecuteRequest {
    return {
      key,
      vendor: 'stripe',
      method: 'POST',
      path: '/v1/charges',
      params: { amount: String(cents), currency: 'usd', customer },
    };
  }

  /** A charge through the guard, the vendor answering with a charge object. */
  pay(key: string, cents: number, customer?: string) {
    return this.guard.execute(this.charge(key, cents, customer), async () => ({
      id: `ch_${cents}_${customer ?? 'cus_1'}`,
      amount: cents,
    }));
  }

  /** A charge whose vendor call times out: its outcome is unknown, so it stays pending. */
  payUnknown(key: string, cents: number) {
    return this.guard.execute(this.charge(key, cents, 'cus_timeout'), async () => {
      throw new VendorCallError('socket hang up', { outcome: 'unknown' });
    });
  }

  async close() {
    if (this.#served) await (await this.#served).close();
    this.api.close();
    await this.guard.close();
    rmSync(this.dir, { recursive: true, force: true });
    delete process.env[TOKEN_ENV];
  }
}
