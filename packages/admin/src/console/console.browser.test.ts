/**
 * The console in a real browser (Debian's Chromium driven by playwright-core), against a real
 * admin listener and a real proxy in front of the testkit's fake Stripe, all on one SQLite file.
 * Screenshots of each screen go to `test-results/` at the repo root.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { createGuard, type Guard, SqliteStore } from '@spendguard/core';
// The proxy is a sibling package the admin package does not depend on: its source, for this test only.
import { type ServedProxy, serveProxy } from '@spendguard/proxy';
import { createFakeStripe, type FakeServer } from '@spendguard/testkit';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedAdmin, serveAdmin } from '../serve-admin.ts';

const ADMIN_TOKEN = 'console-admin-token-0123456789abcdef';
const STRIPE_SECRET = 'sk_test_console_REAL_stripe_secret_0123';
const SHOTS = fileURLToPath(new URL('../../../../test-results/', import.meta.url));
const WAIT = { timeout: 5000 };

let dir: string;
let guard: Guard;
let admin: ServedAdmin;
let proxy: ServedProxy;
let stripe: ReturnType<typeof createFakeStripe>;
let stripeServer: FakeServer;
let browser: Browser;
let page: Page;
let rootToken: string;
let rootId: string;
const figures: Record<string, number> = {};

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'spendguard-console-'));
  process.env.SG_CONSOLE_TEST_ADMIN = ADMIN_TOKEN;
  process.env.SG_CONSOLE_TEST_STRIPE = STRIPE_SECRET;
  stripe = createFakeStripe({ secretKey: STRIPE_SECRET });
  [stripeServer, browser] = await Promise.all([
    stripe.listen(),
    chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-background-networking'],
    }),
  ]);
  guard = createGuard({
    store: new SqliteStore({ file: join(dir, 'state.db') }),
    policies: {
      policies: {
        billing: {
          stripe: { allow: ['POST /v1/charges', 'POST /v1/refunds'] },
          caps: { perKey: 1000, perDay: 500, perRun: 100 },
          approval: { above: 45 },
          alerts: [50, 80],
        },
      },
      credentials: { stripe: { env: 'SG_CONSOLE_TEST_STRIPE' } },
    },
  });
  const root = await guard.keys.issueRoot({ policy: 'billing', name: 'billing-agent' });
  rootToken = root.token;
  rootId = root.id;
  admin = await serveAdmin({ guard, token: { env: 'SG_CONSOLE_TEST_ADMIN' } });
  proxy = await serveProxy({ guard, upstreams: { stripe: stripeServer.url }, upstreamTimeoutMs: 400 });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.setDefaultTimeout(5000);
});

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await admin?.close();
  await stripeServer?.close();
  await guard?.close();
  rmSync(dir, { recursive: true, force: true });
  console.log('console figures', JSON.stringify(figures));
});

/** A charge through the proxy, as an agent's Stripe client would send it. */
async function charge(token: string, cents: number, description: string) {
  const response = await fetch(`${proxy.url}/stripe/v1/charges`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ amount: String(cents), currency: 'usd', source: 'tok_visa', description }),
  });
  await response.text();
  return { status: response.status, decision: response.headers.get('spendguard-decision') };
}

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: true });
const metric = async () =>
  Number(
    /spendguard_admin_unauthorized_total (\d+)/.exec(await (await fetch(`${admin.url}/metrics`)).text())?.[1],
  );

describe('the console in a browser', () => {
  it('serves only the sign-in page without a session, refuses a wrong token (counted), then signs in', async () => {
    await page.goto(`${admin.url}/#keys`);
    await page.locator('#sign-in').waitFor(WAIT);
    expect(await page.locator('#keys').count()).toBe(0);
    await shot('sign-in');
    const before = await metric();
    await page.fill('#token', 'not-the-admin-token-at-all-00000');
    await page.fill('#name', 'Alice');
    await page.click('button[type=submit]');
    await expect.poll(() => page.locator('#error').textContent(), WAIT).toContain('not the admin token');
    expect(await metric()).toBe(before + 1);
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('button[type=submit]');
    await page.locator('#who', { hasText: 'Alice' }).waitFor(WAIT);
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'sg_console', httpOnly: true, sameSite: 'Strict', secure: false });
    // The page never holds the admin token: not in its DOM, storage or any script.
    const html = await page.content();
    expect(html).not.toContain(ADMIN_TOKEN);
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }))).toBe('{}');
  });

  it('shows a call made through the proxy in the live feed within a second, and opens its entry', async () => {
    const run = await guard.keys.derive(rootToken, { runId: 'run-feed', name: 'feed' });
    await page.goto(`${admin.url}/#feed`);
    await page.locator('#live.on').waitFor(WAIT);
    await page.locator('#verify.ok').waitFor(WAIT);
    const started = performance.now();
    expect(await charge(run.token, 1500, 'cus_feed')).toMatchObject({ status: 200, decision: 'executed' });
    const answered = performance.now();
    await page
      .locator('#feed-rows tr[data-decision=executed]', { hasText: 'run-feed' })
      .waitFor({ timeout: 1000 });
    figures.feedLatencyMs = Math.round(performance.now() - answered);
    figures.feedLatencyFromRequestMs = Math.round(performance.now() - started);
    expect(figures.feedLatencyMs).toBeLessThan(1000);
    await charge(run.token, 4000, 'cus_feed_2'); // $55 of the run's $100: past the 50% alert
    await page.locator('#feed-rows tr[data-decision=executed]').nth(1).waitFor(WAIT);
    await shot('feed');
    await page.locator('#feed-rows tr[data-decision=executed]').first().click();
    await page.locator('#entry[open]').waitFor(WAIT);
    expect(await page.locator('#entry-table').textContent()).toContain('run-feed');
    await shot('feed-entry');
    await page.click('#entry button');

    // Filtering by run reconnects the stream with only that run's rows.
    await page.fill('#filters input[name=run]', 'run-nope');
    await page.click('#filters button');
    await page.locator('#live.on').waitFor(WAIT);
    await expect.poll(() => page.locator('#feed-rows tr').count(), WAIT).toBe(0);
    await page.fill('#filters input[name=run]', '');
    await page.click('#filters button');
    await page.locator('#feed-rows tr[data-decision=executed]').nth(1).waitFor(WAIT);
  });

  it('shows spend against each capped window, amber past the alert, and a uPlot chart', async () => {
    await page.goto(`${admin.url}/#overview`);
    await page.locator(`.card[data-key="${rootId}"]`).waitFor(WAIT);
    await page.locator('#chart .uplot canvas').waitFor(WAIT);
    const runBar = page.locator('.runs [data-window=lifetime]').first();
    expect(await runBar.getAttribute('data-level')).toBe('amber');
    await shot('overview');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await page.locator('#chart .uplot canvas').waitFor(WAIT);
    await shot('overview-phone');
    await page.setViewportSize({ width: 1200, height: 900 });
  });

  it('revokes a key from the page with a confirmation; the feed shows it at once and the next call is denied', async () => {
    const run = await guard.keys.derive(rootToken, { runId: 'run-revoke', name: 'looping agent' });
    expect((await charge(run.token, 100, 'cus_r1')).decision).toBe('executed');
    await page.goto(`${admin.url}/#keys`);
    await page.locator(`#key-rows tr[data-key="${run.id}"] button`).click();
    await page.locator('#confirm[open]').waitFor(WAIT);
    await shot('keys-confirm-revoke');
    const clicked = performance.now();
    await page.click('#confirm-ok');
    await page.locator(`#key-rows tr[data-key="${run.id}"] .badge.revoked`).waitFor(WAIT);
    const denied = await charge(run.token, 100, 'cus_r2');
    figures.revokeToDeniedMs = Math.round(performance.now() - clicked);
    expect(denied).toMatchObject({ status: 401, decision: 'key_revoked' });
    // The revocation is in the (still connected) feed, by the signed-in person.
    await page
      .locator('#feed-rows tr[data-admin=key_revoked]', { hasText: run.id })
      .waitFor({ state: 'attached', timeout: 1000 });
    expect(await page.locator('#feed-rows tr[data-admin]').first().textContent()).toContain('console: Alice');
    await shot('keys');
  });

  it('approves a waiting call, recorded with who; the retried call runs once', async () => {
    const run = await guard.keys.derive(rootToken, { runId: 'run-approve', name: 'refunds' });
    expect(await charge(run.token, 4800, 'cus_big')).toMatchObject({
      status: 403,
      decision: 'approval_required',
    });
    await page.goto(`${admin.url}/#approvals`);
    const card = page.locator('#approval-list .card').first();
    await card.waitFor(WAIT);
    expect(await card.textContent()).toContain('run run-approve');
    expect(await card.textContent()).toContain('$48.00');
    await shot('approvals');
    await card.locator('button', { hasText: 'Approve' }).click();
    await page.fill('#confirm input[name=reason]', 'customer asked');
    await page.click('#confirm-ok');
    await page.locator('#decided-rows tr', { hasText: 'console: Alice' }).waitFor(WAIT);
    const [approval] = await guard.approvals.list({ state: 'approved' });
    expect(approval).toMatchObject({ decidedBy: 'console: Alice', reason: 'customer asked' });
    expect(await charge(run.token, 4800, 'cus_big')).toMatchObject({ status: 200, decision: 'executed' });
    expect((await charge(run.token, 4800, 'cus_big')).decision).toMatch(/^replayed/);
    const charges = stripe.ledger.list('charge') as unknown as { amount: number }[];
    expect(charges.filter((c) => c.amount === 4800)).toHaveLength(1);
  });

  it('reconciles an unknown outcome from the page', async () => {
    const run = await guard.keys.derive(rootToken, { runId: 'run-unknown', name: 'timeouts' });
    stripe.faults.inject({ kind: 'timeout_after_act', ms: 1000 });
    expect(await charge(run.token, 700, 'cus_slow')).toMatchObject({
      status: 504,
      decision: 'outcome_unknown',
    });
    const [pending] = await guard.pending();
    expect(pending).toMatchObject({ keyId: run.id, outcomeUnknown: true });
    await page.goto(`${admin.url}/#approvals`);
    const card = page.locator(`#pending-list [data-pending="${pending?.checkpointId}"]`);
    await card.waitFor(WAIT);
    await shot('unknown-outcomes');
    await card.locator('button', { hasText: 'It executed' }).click();
    await page.fill('#confirm input[name=objectId]', 'ch_from_dashboard');
    await page.click('#confirm-ok');
    await card.waitFor({ state: 'detached', ...WAIT });
    expect(await guard.pending()).toEqual([]);
    const [row] = await guard.audit.list({ keyId: run.id, code: 'reconciled' });
    expect(row).toMatchObject({ decision: 'executed', message: 'reconciled as executed by console: Alice' });
    expect(row?.upstreamObjectId).toBe('ch_from_dashboard');
  });

  it('refuses a forged cross-site POST carrying the session cookie', async () => {
    const run = await guard.keys.derive(rootToken, { runId: 'run-forged' });
    const [cookie] = await page.context().cookies();
    const csrf = await page.evaluate(
      async () => ((await (await fetch('/console/api/session')).json()) as { csrf: string }).csrf,
    );
    const post = (headers: Record<string, string>) =>
      fetch(`${admin.url}/console/api/v1/keys/${run.id}/revoke`, {
        method: 'POST',
        headers: {
          cookie: `${cookie?.name}=${cookie?.value}`,
          'content-type': 'application/json',
          ...headers,
        },
        body: '{}',
      });
    expect((await post({ origin: 'https://evil.example', 'x-csrf-token': csrf })).status).toBe(403);
    expect((await post({ origin: admin.url })).status).toBe(403);
    expect((await post({ origin: admin.url, 'x-csrf-token': 'guess' })).status).toBe(403);
    expect((await guard.keys.get(run.id))?.revokedAt).toBeNull();
    // From a page on another origin, the browser itself keeps the Strict cookie back.
    const evil = await browser.newPage();
    await evil.goto(stripeServer.url);
    const status = await evil.evaluate(async (url) => {
      const r = await fetch(url, { method: 'POST', credentials: 'include', mode: 'no-cors', body: '{}' });
      return r.type;
    }, `${admin.url}/console/api/v1/keys/${run.id}/revoke`);
    await evil.close();
    expect(status).toBe('opaque');
    expect((await guard.keys.get(run.id))?.revokedAt).toBeNull();
    expect((await post({ origin: admin.url, 'x-csrf-token': csrf })).status).toBe(200);
  });

  it('shows a tampered audit row as the first bad row of the chain', async () => {
    const [, second] = await guard.audit.list({ limit: 2 });
    const db = new DatabaseSync(join(dir, 'state.db'));
    db.prepare("UPDATE sg_audit SET data = json_set(data, '$.actualCostUsd', 0.01) WHERE seq = ?").run(
      second?.seq as number,
    );
    db.close();
    await page.goto(`${admin.url}/#feed`);
    await page.locator('#verify.bad').waitFor(WAIT);
    expect(await page.locator('#verify').textContent()).toContain(`row #${second?.seq}`);
    await shot('feed-tampered');
  });
});
