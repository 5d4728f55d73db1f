import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGuard, type ExecuteRequest, type Guard, SqliteStore, VendorCallError } from '@spendguard/core';
import { type AdminApi, createAdminApi } from './admin-api.ts';

/** The admin token every test world uses, set in this environment variable. */
export const TOKEN_ENV = 'SPENDGUARD_ADMIN_TOKEN_TEST';
export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789abcdef';

/** A guard on SQLite in a temp dir, its admin API, and helpers that make calls happen. */
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

  constructor() {
    process.env[TOKEN_ENV] = ADMIN_TOKEN;
    this.api = createAdminApi({ guard: this.guard, token: { env: TOKEN_ENV } });
  }

  /** A request to the admin API with the admin token, or with the `authorization` given. */
  async call(method: string, path: string, body?: unknown, authorization = `Bearer ${ADMIN_TOKEN}`) {
    const response = await this.api.fetch(
      new Request(`http://admin.test${path}`, {
        method,
        headers: { authorization, 'content-type': 'application/json' },
        ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
    );
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
    await this.guard.close();
    rmSync(this.dir, { recursive: true, force: true });
    delete process.env[TOKEN_ENV];
  }
}
