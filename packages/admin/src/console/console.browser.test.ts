/**
 * The console in a real browser (Debian's Chromium driven by playwright-core), against a real
 * admin listener and a real proxy in front of the testkit's fake Stripe, all on one SQLite file.
 * Screenshots of each screen go to `test-results/` at the repo root. Every response the browser
 * receives is kept, to prove at the end that no token or vendor secret ever reached a page.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { createGuard, type Guard, SqliteStore } from '@spendguard/core';
// The proxy is a sibling package the admin package does not depend on: its source, for this test only.
import { type ServedProxy, serveProxy } from '@spendguard/proxy';
import { createFakeStripe, type FakeServer } from '@spendguard/testkit';
import { type Browser, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
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
let feedRunId: string;
/** A run key pushed past its last alert threshold, for the red bar. */
let redRun: { id: string; token: string };
const figures: Record<string, number> = {};
/** Every agent token this test holds: none may reach a page (a derived one only in its own answer). */
const agentTokens: string[] = [];
let derivedToken = '';
/** The bodies of every response the browsers received (event streams are read separately). */
const received: Promise<{ url: string; body: string }>[] = [];

const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-background-networking'],
};

/** A new browser page whose every response body is kept for the leak check. */
async function newPage(options: BrowserContextOptions = {}): Promise<Page> {
  const context = await browser.newContext(options);
  const opened = await context.newPage();
  opened.setDefaultTimeout(5000);
  opened.on('response', (response) => {
    if ((response.headers()['content-type'] ?? '').includes('text/event-stream')) return;
    received.push(
      response
        .text()
        .catch(() => '')
        .then((body) => ({ url: response.url(), body })),
    );
  });
  return opened;
}

/** Signs in on a page at the listener `base`. */
async function signIn(on: Page, name: string, base = admin.url) {
  await on.goto(`${base}/`);
  await on.fill('#token', ADMIN_TOKEN);
  await on.fill('#name', name);
  await on.click('button[type=submit]');
  await on.locator('#who', { hasText: name }).waitFor(WAIT);
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'spendguard-console-'));
  process.env.SG_CONSOLE_TEST_ADMIN = ADMIN_TOKEN;
  process.env.SG_CONSOLE_TEST_STRIPE = STRIPE_SECRET;
  stripe = createFakeStripe({ secretKey: STRIPE_SECRET });
  [stripeServer, browser] = await Promise.all([stripe.listen(), chromium.launch(CHROMIUM)]);
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
  agentTokens.push(rootToken);
  admin = await serveAdmin({ guard, token: { env: 'SG_CONSOLE_TEST_ADMIN' } });
  proxy = await serveProxy({ guard, upstreams: { stripe: stripeServer.url }, upstreamTimeoutMs: 400 });
  page = await newPage({ viewport: { width: 1200, height: 900 } });
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
async function charge(token: string, cents: number, description: string, customer?: string) {
  const params = { amount: String(cents), currency: 'usd', source: 'tok_visa', description };
  const response = await fetch(`${proxy.url}/stripe/v1/charges`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(customer ? { ...params, customer } : params),
  });
  await response.text();
  return { status: response.status, decision: response.headers.get('spendguard-decision') };
}

/** A run key derived by the agent's side (not through the console); its token is a secret too. */
async function runKey(runId: string, name?: string) {
  const run = await guard.keys.derive(rootToken, { runId, ...(name && { name }) });
  agentTokens.push(run.token);
  return run;
}

const shot = (name: string, on = page) =>
  on.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: true });
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
    const run = await runKey('run-feed', 'feed');
    feedRunId = run.id;
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

    // By key: the live rows of that key come, another key's do not.
    const other = await runKey('run-red', 'red');
    redRun = other;
    await page.fill('#filters input[name=key]', run.id);
    await page.click('#filters button');
    await page.locator('#live.on').waitFor(WAIT);
    await expect.poll(() => page.locator('#feed-rows tr').count(), WAIT).toBe(2);
    expect((await charge(other.token, 4500, 'cus_red_1')).decision).toBe('executed');
    expect((await charge(run.token, 100, 'cus_feed_3')).decision).toBe('executed');
    await expect.poll(() => page.locator('#feed-rows tr').count(), WAIT).toBe(3);
    expect(await page.locator('#feed-rows').textContent()).not.toContain(other.id);
    // By vendor and by decision: nothing from Twilio, no denial yet; Stripe's executed rows all show.
    await page.fill('#filters input[name=key]', '');
    await page.selectOption('#filters select[name=vendor]', 'twilio');
    await page.click('#filters button');
    await page.locator('#live.on').waitFor(WAIT);
    await expect.poll(() => page.locator('#feed-rows tr').count(), WAIT).toBe(0);
    await page.selectOption('#filters select[name=vendor]', 'stripe');
    await page.selectOption('#filters select[name=decision]', 'denied');
    await page.click('#filters button');
    await page.locator('#live.on').waitFor(WAIT);
    await expect.poll(() => page.locator('#feed-rows tr').count(), WAIT).toBe(0);
    await page.selectOption('#filters select[name=decision]', 'executed');
    await page.click('#filters button');
    await expect.poll(() => page.locator('#feed-rows tr[data-decision=executed]').count(), WAIT).toBe(4);
    expect(await page.locator('#feed-rows tr:not([data-decision=executed])').count()).toBe(0);
    // Back to everything (a hash change keeps this document, its filters and its stream).
    await page.selectOption('#filters select[name=vendor]', '');
    await page.selectOption('#filters select[name=decision]', '');
    await page.click('#filters button');
    await page.locator('#live.on').waitFor(WAIT);
  });

  it('shows spend against each capped window, amber past the first alert and red past the last, and a uPlot chart', async () => {
    expect((await charge(redRun.token, 4000, 'cus_red_2')).decision).toBe('executed');
    await page.goto(`${admin.url}/#overview`);
    await page.locator(`.card[data-key="${rootId}"]`).waitFor(WAIT);
    await page.locator('#chart .uplot canvas').waitFor(WAIT);
    const level = (keyId: string) =>
      page.locator(`.runs [data-key="${keyId}"] .bar[data-window=lifetime]`).getAttribute('data-level');
    expect(await level(feedRunId)).toBe('amber'); // $56 of $100: past 50%
    expect(await level(redRun.id)).toBe('red'); // $85 of $100: past 80%
    expect(await page.locator('#chart .u-legend').textContent()).toContain('billing-agent');
    await shot('overview');
    // The day's chart is fetched and drawn anew.
    const day = page.waitForResponse((r) => r.url().includes('/v1/spend/series?window=day') && r.ok());
    await page.click('button[data-window=day]');
    await day;
    await page.locator('button[data-window=day].selected').waitFor(WAIT);
    await page.locator('#chart .uplot canvas').waitFor(WAIT);
    await shot('overview-day');
  });

  it('revokes a key from the page with a confirmation; the feed shows it at once and the next call is denied', async () => {
    const run = await runKey('run-revoke', 'looping agent');
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

  it('derives a run key from the page: its token shown once, then an agent calls within its cap', async () => {
    await page.goto(`${admin.url}/#keys`);
    await page.locator(`#key-rows tr[data-key="${rootId}"]`).waitFor(WAIT);
    await page.fill('#derive input[name=parentToken]', rootToken);
    await page.fill('#derive input[name=runId]', 'run-derived');
    await page.fill('#derive input[name=name]', 'from the console');
    await page.fill('#derive input[name=perRun]', '20');
    const answered = page.waitForResponse((r) => r.url().endsWith('/console/api/v1/keys/derive'));
    await page.click('#derive button[type=submit]');
    expect((await answered).status()).toBe(201);
    derivedToken = (await page.locator('#derived-token').textContent()) ?? '';
    expect(derivedToken).toMatch(/^sk_sg_[0-9a-f]{64}$/);
    // The parent's token left the form as soon as it was sent.
    expect(await page.inputValue('#derive input[name=parentToken]')).toBe('');
    await page.locator('#key-rows tr', { hasText: 'run-derived' }).waitFor(WAIT);
    await shot('keys-derived');
    expect((await charge(derivedToken, 1500, 'cus_derived')).decision).toBe('executed');
    expect((await charge(derivedToken, 1000, 'cus_derived_2')).decision).toBe('cap_exceeded');
    await page.click('#derived button');
    expect(await page.locator('#derived').isHidden()).toBe(true);
  });

  it('approves a waiting call, recorded with who; the retried call runs once', async () => {
    const run = await runKey('run-approve', 'refunds');
    const created = await fetch(`${stripeServer.url}/v1/customers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${STRIPE_SECRET}` },
    });
    const customer = ((await created.json()) as { id: string }).id;
    expect(await charge(run.token, 4800, 'cus_big', customer)).toMatchObject({
      status: 403,
      decision: 'approval_required',
    });
    await page.goto(`${admin.url}/#approvals`);
    const card = page.locator('#approval-list .card').first();
    await card.waitFor(WAIT);
    expect(await card.textContent()).toContain('run run-approve');
    expect(await card.textContent()).toContain('$48.00');
    // To whom: the customer the charge names, as the Stripe profile reads it.
    expect(await card.textContent()).toContain(`POST /v1/charges to ${customer}`);
    await shot('approvals');
    await card.locator('button', { hasText: 'Approve' }).click();
    await page.fill('#confirm input[name=reason]', 'customer asked');
    await page.click('#confirm-ok');
    await page.locator('#decided-rows tr', { hasText: 'console: Alice' }).waitFor(WAIT);
    const [approval] = await guard.approvals.list({ state: 'approved' });
    expect(approval).toMatchObject({ decidedBy: 'console: Alice', reason: 'customer asked' });
    expect(await charge(run.token, 4800, 'cus_big', customer)).toMatchObject({
      status: 200,
      decision: 'executed',
    });
    expect((await charge(run.token, 4800, 'cus_big', customer)).decision).toMatch(/^replayed/);
    const charges = stripe.ledger.list('charge') as unknown as { amount: number }[];
    expect(charges.filter((c) => c.amount === 4800)).toHaveLength(1);
  });

  it('works on a phone: every screen fits 390 px, and a call is denied by touch, recorded with who', async () => {
    const phone = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await signIn(phone, 'Carol');
    const run = await runKey('run-phone', 'refunds on call');
    expect((await charge(run.token, 4700, 'cus_phone')).decision).toBe('approval_required');
    const [asked] = await guard.approvals.list({ state: 'pending' });
    const fits = () => phone.evaluate('document.documentElement.scrollWidth <= window.innerWidth');
    const screens: [tab: string, loaded: string][] = [
      ['overview', '#chart .uplot canvas'],
      ['feed', '#verify.ok'],
      ['keys', `#key-rows tr[data-key="${run.id}"]`],
      ['approvals', `#approval-list [data-approval="${asked?.id}"]`],
    ];
    for (const [tab, loaded] of screens) {
      await phone.tap(`nav a[data-tab=${tab}]`);
      await phone.locator(loaded).first().waitFor(WAIT);
      expect(await fits(), tab).toBe(true);
      await shot(`phone-${tab}`, phone);
    }
    const card = phone.locator(`#approval-list [data-approval="${asked?.id}"]`);
    expect(await card.textContent()).toContain('$47.00');
    await card.locator('button', { hasText: 'Deny' }).tap();
    await phone.fill('#confirm input[name=reason]', 'not this customer');
    expect(await fits()).toBe(true);
    await shot('phone-deny', phone);
    await phone.tap('#confirm-ok');
    await phone.locator('#decided-rows tr', { hasText: 'console: Carol' }).waitFor(WAIT);
    expect(await guard.approvals.list({ state: 'denied' })).toMatchObject([
      { id: asked?.id, decidedBy: 'console: Carol', reason: 'not this customer' },
    ]);
    expect((await charge(run.token, 4700, 'cus_phone')).decision).toBe('approval_denied');
    const charges = stripe.ledger.list('charge') as unknown as { amount: number }[];
    expect(charges.filter((c) => c.amount === 4700)).toHaveLength(0);
    await phone.context().close();
  });

  it('reconciles an unknown outcome from the page', async () => {
    const run = await runKey('run-unknown', 'timeouts');
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

    // Another one settled as failed: its reservation is released.
    stripe.faults.inject({ kind: 'timeout_after_act', ms: 1000 });
    expect((await charge(run.token, 900, 'cus_slow_2')).decision).toBe('outcome_unknown');
    const [second] = await guard.pending();
    const held = (await guard.spend(run.id)).lifetimeUsd;
    await page.reload();
    const failedCard = page.locator(`#pending-list [data-pending="${second?.checkpointId}"]`);
    await failedCard.locator('button', { hasText: 'It failed' }).click();
    await page.click('#confirm-ok');
    await failedCard.waitFor({ state: 'detached', ...WAIT });
    expect(await guard.pending()).toEqual([]);
    expect((await guard.spend(run.id)).lifetimeUsd).toBeCloseTo(held - 9, 6);
    const [failed] = await guard.audit.list({ keyId: run.id, code: 'reconciled', decision: 'failed' });
    expect(failed?.message).toBe('reconciled as failed by console: Alice');
  });

  it('refuses a forged cross-site POST carrying the session cookie', async () => {
    const run = await runKey('run-forged');
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
    // A forged form on another page of the signed-in browser. Another port of 127.0.0.1 is the
    // same site, so the Strict cookie goes along and the server itself must refuse (Origin, no CSRF
    // token); from another site the browser keeps the cookie back and the server sees no session.
    const target = `${admin.url}/console/api/v1/keys/${run.id}/revoke`;
    const form = `<!doctype html><form method="post" action="${target}" enctype="text/plain"><input name='{"a":"' value='"}'><button>Win a prize</button></form>`;
    const evil = await page.context().newPage();
    const sameSite = `${stripeServer.url}/prize`;
    const crossSite = 'http://prize.example/';
    for (const url of [sameSite, crossSite]) {
      await evil.route(url, (route) => route.fulfill({ contentType: 'text/html', body: form }));
    }
    const forged: [from: string, status: number, message: string][] = [
      [sameSite, 403, 'cross-site request refused'],
      [crossSite, 401, 'sign in first'],
    ];
    for (const [from, status, message] of forged) {
      await evil.goto(from);
      const [answer] = await Promise.all([evil.waitForResponse(target, WAIT), evil.click('button')]);
      expect(answer.status(), from).toBe(status);
      expect(await answer.text()).toContain(message);
    }
    await evil.close();
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

  it('over TLS sets the session cookie Secure, with the __Host- prefix', async () => {
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      // biome-ignore format: one openssl command line
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', keyFile, '-out', certFile],
      { stdio: 'ignore' },
    );
    const tls = await serveAdmin({
      guard,
      token: { env: 'SG_CONSOLE_TEST_ADMIN' },
      tls: { certFile, keyFile },
    });
    try {
      expect(tls.url).toMatch(/^https:/);
      const secure = await newPage({ ignoreHTTPSErrors: true });
      await signIn(secure, 'Dana', tls.url);
      expect(await secure.context().cookies()).toMatchObject([
        { name: '__Host-sg_console', httpOnly: true, sameSite: 'Strict', secure: true, path: '/' },
      ]);
      await secure.context().close();
    } finally {
      await tls.close();
    }
  });

  it('never sent a page an agent token, the admin token or the vendor secret', async () => {
    const secrets = [ADMIN_TOKEN, STRIPE_SECRET, ...agentTokens];
    const bodies = await Promise.all(received);
    expect(bodies.length).toBeGreaterThan(50);
    for (const { url, body } of bodies) {
      for (const secret of secrets) expect(body.includes(secret), url).toBe(false);
    }
    // The run key derived on the Keys screen: in that one answer, nowhere else.
    expect(bodies.filter(({ body }) => body.includes(derivedToken)).map(({ url }) => url)).toEqual([
      `${admin.url}/console/api/v1/keys/derive`,
    ]);
    // The live feed, read as the page reads it: every audit row so far.
    const [cookie] = await page.context().cookies();
    const abort = new AbortController();
    const stream = await fetch(`${admin.url}/console/api/v1/audit/stream?backlog=1000`, {
      headers: { cookie: `${cookie?.name}=${cookie?.value}` },
      signal: abort.signal,
    });
    const reader = (stream.body as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream())
      .getReader();
    let text = '';
    const last = (await guard.audit.list({ limit: 1, beforeSeq: Number.MAX_SAFE_INTEGER }))[0]?.seq;
    while (!text.includes(`id: ${last}\n`)) text += (await reader.read()).value ?? '';
    abort.abort();
    for (const secret of [...secrets, derivedToken]) expect(text.includes(secret)).toBe(false);
  });
});
