/**
 * The console's pages, styles and scripts, shipped as strings in the package (no build step for
 * the user; `tsup` bundles them into dist). Plain DOM scripts, no inline code (the CSP forbids
 * it), no token ever in a page: the session cookie is HttpOnly and the CSRF token is read from
 * `/console/api/session`.
 */

const HEAD = `<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="stylesheet" href="/console/assets/console.css">`;

export const SIGN_IN_HTML = `<!doctype html>
<html lang="en">
<head>
${HEAD}
<title>spendguard — sign in</title>
</head>
<body class="sign-in">
<main>
  <h1>spendguard</h1>
  <p class="muted">Sign in with the admin token. It is checked once; the page then uses a session cookie and never sees the token again.</p>
  <form id="sign-in" autocomplete="off">
    <label>Admin token <input id="token" name="token" type="password" required autocomplete="off"></label>
    <label>Your name <span class="muted">(recorded with your approvals and reconciliations)</span>
      <input id="name" name="name" required maxlength="60" autocomplete="username"></label>
    <button type="submit">Sign in</button>
    <p id="error" class="error" role="alert" hidden></p>
  </form>
</main>
<script src="/console/assets/sign-in.js"></script>
</body>
</html>`;

export const SIGN_IN_JS = `'use strict';
document.getElementById('sign-in').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = document.getElementById('error');
  const tokenInput = document.getElementById('token');
  error.hidden = true;
  const response = await fetch('/console/sign-in', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: tokenInput.value, name: document.getElementById('name').value }),
  });
  tokenInput.value = '';
  if (response.ok) {
    location.href = '/';
    return;
  }
  const body = await response.json().catch(() => ({}));
  error.textContent = response.status === 401 ? 'That is not the admin token.' : (body.error && body.error.message) || 'Sign-in failed.';
  error.hidden = false;
});
`;

export const APP_HTML = `<!doctype html>
<html lang="en">
<head>
${HEAD}
<link rel="stylesheet" href="/console/assets/uPlot.min.css">
<title>spendguard console</title>
</head>
<body>
<header>
  <strong>spendguard</strong>
  <nav>
    <a href="#overview" data-tab="overview">Overview</a>
    <a href="#feed" data-tab="feed">Feed</a>
    <a href="#keys" data-tab="keys">Keys</a>
    <a href="#approvals" data-tab="approvals">Approvals <span id="approvals-count" class="count" hidden></span></a>
  </nav>
  <span class="who"><span id="who"></span> <button id="sign-out" class="link">Sign out</button></span>
</header>
<p id="flash" class="flash" role="status" hidden></p>
<main>
  <section id="overview" hidden>
    <h2>Spend against caps</h2>
    <p class="muted">Per root key and its run keys, each capped window. Bars turn amber at the policy's first alert threshold and red at its last (or at the cap).</p>
    <div id="spend"></div>
    <h2>Spend over time <span class="window">
      <button data-window="hour" class="small selected">last hour</button>
      <button data-window="day" class="small">last day</button></span></h2>
    <div id="chart" class="chart"></div>
    <p id="chart-empty" class="muted" hidden>No executed calls in this window.</p>
  </section>

  <section id="feed" hidden>
    <div id="verify" class="verify">Verifying the audit chain…</div>
    <form id="filters" class="filters">
      <input name="key" placeholder="key id">
      <input name="run" placeholder="run id">
      <select name="vendor"><option value="">any vendor</option><option>stripe</option><option>twilio</option><option>resend</option></select>
      <select name="decision"><option value="">any decision</option><option>executed</option><option>replayed</option><option>needs_approval</option><option>approved</option><option>denied</option><option>failed</option></select>
      <button type="submit" class="small">Filter</button>
      <span id="live" class="live">connecting…</span>
    </form>
    <div class="scroll"><table class="rows">
      <thead><tr><th>#</th><th>time</th><th>decision</th><th>code</th><th>vendor · operation</th><th>USD</th><th>key</th><th>run</th></tr></thead>
      <tbody id="feed-rows"></tbody>
    </table></div>
  </section>

  <section id="keys" hidden>
    <h2>Keys</h2>
    <div class="scroll"><table class="rows">
      <thead><tr><th>name</th><th>id</th><th>policy</th><th>run</th><th>parent</th><th>state</th><th></th></tr></thead>
      <tbody id="key-rows"></tbody>
    </table></div>
    <h2>Derive a run key</h2>
    <p class="muted">Paste the parent (root) key's token; it is sent once to the server and not kept. The new run key's token is shown once, here, and never again.</p>
    <form id="derive" class="stack" autocomplete="off">
      <label>Parent token <input name="parentToken" type="password" required autocomplete="off"></label>
      <label>Run id <input name="runId"></label>
      <label>Name <input name="name"></label>
      <label>Cap for the run, USD <input name="perRun" type="number" min="0" step="0.01"></label>
      <label>Lifetime <input name="ttl" placeholder="e.g. 1h"></label>
      <button type="submit">Derive</button>
    </form>
    <div id="derived" class="derived" hidden></div>
  </section>

  <section id="approvals" hidden>
    <h2>Waiting for a person</h2>
    <div id="approval-list"></div>
    <h2>Unknown outcomes</h2>
    <p class="muted">Calls whose vendor did not say whether they ran. Check the vendor's dashboard, then settle each: executed (it holds its cost) or failed (its reservation is released).</p>
    <div id="pending-list"></div>
    <h2>Decided</h2>
    <div class="scroll"><table class="rows">
      <thead><tr><th>decided</th><th>verdict</th><th>what</th><th>USD</th><th>key</th><th>by</th></tr></thead>
      <tbody id="decided-rows"></tbody>
    </table></div>
  </section>
</main>

<dialog id="confirm">
  <form method="dialog">
    <h3 id="confirm-title"></h3>
    <p id="confirm-text"></p>
    <div id="confirm-fields" class="stack"></div>
    <menu><button value="cancel" class="secondary">Cancel</button><button id="confirm-ok" value="ok"></button></menu>
  </form>
</dialog>
<dialog id="entry">
  <form method="dialog">
    <h3 id="entry-title">Audit entry</h3>
    <table id="entry-table" class="entry"></table>
    <menu><button value="close">Close</button></menu>
  </form>
</dialog>
<script src="/console/assets/uPlot.iife.min.js"></script>
<script src="/console/assets/app.js"></script>
</body>
</html>`;

export const CONSOLE_CSS = `:root { --fg: #1d2330; --muted: #667085; --line: #e3e6ec; --bg: #f7f8fa; --ok: #1f9d55; --amber: #e09b00; --red: #d92d20; --accent: #2f5bea; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
header nav { display: flex; gap: .25rem; flex-wrap: wrap; flex: 1; }
header nav a { padding: .35rem .7rem; border-radius: 6px; color: var(--fg); text-decoration: none; }
header nav a.active { background: var(--accent); color: #fff; }
.who { color: var(--muted); font-size: .9em; }
main { padding: 1rem; max-width: 1100px; margin: 0 auto; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
.muted { color: var(--muted); font-size: .9em; }
button { font: inherit; padding: .45rem .9rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; min-height: 36px; }
button.secondary, button.small.secondary { background: #fff; color: var(--fg); border-color: var(--line); }
button.danger { background: var(--red); border-color: var(--red); }
button.small { padding: .2rem .6rem; min-height: 30px; font-size: .9em; }
button.link { background: none; border: none; color: var(--accent); padding: 0; min-height: 0; }
button.selected { background: var(--fg); border-color: var(--fg); }
.window button:not(.selected) { background: #fff; color: var(--fg); border-color: var(--line); }
input, select { font: inherit; padding: .4rem .5rem; border: 1px solid var(--line); border-radius: 6px; min-width: 0; }
label { display: flex; flex-direction: column; gap: .2rem; }
.stack { display: flex; flex-direction: column; gap: .6rem; max-width: 420px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; margin-bottom: .8rem; }
.card h3 { margin: 0 0 .4rem; font-size: 1rem; }
.card .runs { margin-left: 1rem; border-left: 3px solid var(--line); padding-left: .8rem; }
.bar { margin: .35rem 0; }
.bar .label { display: flex; justify-content: space-between; font-size: .85em; color: var(--muted); }
.bar .track { height: 10px; background: #edf0f4; border-radius: 5px; overflow: hidden; }
.bar .fill { height: 100%; background: var(--ok); }
.bar.amber .fill { background: var(--amber); }
.bar.red .fill { background: var(--red); }
.chart { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .5rem; overflow: hidden; }
.window { font-weight: normal; margin-left: .5rem; }
.scroll { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
table.rows { border-collapse: collapse; width: 100%; font-size: .9em; }
table.rows th, table.rows td { text-align: left; padding: .4rem .55rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
table.rows tbody tr { cursor: default; }
#feed-rows tr { cursor: pointer; }
#feed-rows tr:hover { background: #f0f4ff; }
#feed-rows tr.fresh { animation: fresh 1.5s ease-out; }
@keyframes fresh { from { background: #fff6cc; } to { background: transparent; } }
.badge { display: inline-block; padding: .05rem .45rem; border-radius: 10px; font-size: .85em; background: #edf0f4; }
.badge.executed, .badge.active, .badge.approved { background: #dcf5e6; color: #12663a; }
.badge.denied, .badge.revoked, .badge.failed { background: #fde2e0; color: #9a1c13; }
.badge.needs_approval, .badge.pending, .badge.expired { background: #fff1cc; color: #7a5300; }
.badge.admin { background: #e3e9ff; color: #1d3a9e; }
.filters { display: flex; flex-wrap: wrap; gap: .4rem; margin: .8rem 0; align-items: center; }
.filters input { width: 9rem; }
.live { font-size: .85em; color: var(--muted); }
.live.on::before { content: "● "; color: var(--ok); }
.verify { padding: .6rem .8rem; border-radius: 8px; background: #fff; border: 1px solid var(--line); }
.verify.ok { border-color: var(--ok); color: #12663a; }
.verify.bad { border-color: var(--red); color: #9a1c13; background: #fff5f4; }
.flash { margin: 0; padding: .5rem 1rem; background: #e3e9ff; }
.flash.error { background: #fde2e0; }
.error { color: var(--red); }
.derived { margin-top: 1rem; padding: .8rem; border: 2px solid var(--amber); border-radius: 8px; background: #fffaf0; word-break: break-all; }
.derived code { font-size: 1rem; }
.actions { display: flex; gap: .5rem; flex-wrap: wrap; margin-top: .5rem; }
.count { background: var(--red); color: #fff; border-radius: 9px; padding: 0 .4rem; font-size: .8em; }
dialog { border: none; border-radius: 10px; padding: 1rem 1.2rem; max-width: min(560px, 94vw); width: 100%; box-shadow: 0 10px 40px rgba(0,0,0,.25); }
dialog h3 { margin-top: 0; }
dialog menu { display: flex; justify-content: flex-end; gap: .5rem; padding: 0; margin: 1rem 0 0; }
table.entry { width: 100%; font-size: .85em; border-collapse: collapse; }
table.entry th { text-align: left; padding-right: .8rem; color: var(--muted); font-weight: normal; vertical-align: top; }
table.entry td { word-break: break-all; font-family: ui-monospace, monospace; }
body.sign-in main { max-width: 420px; margin: 10vh auto; background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 1.5rem; }
body.sign-in form { display: flex; flex-direction: column; gap: .8rem; }
@media (max-width: 600px) {
  main { padding: .6rem; }
  header { padding: .5rem .6rem; justify-content: space-between; }
  header nav { order: 3; flex-basis: 100%; }
  .filters input, .filters select { flex: 1 1 40%; width: auto; }
  .hide-narrow { display: none; }
}
`;

export const APP_JS = `'use strict';
(() => {
  let csrf = '';
  const $ = (id) => document.getElementById(id);
  const usd = (n) => (n === null || n === undefined ? '' : '$' + Number(n).toFixed(2));
  const time = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '');
  const dateTime = (ms) => (ms ? new Date(ms).toLocaleString() : '');

  /** An element: el('td', { class: 'x', text: 'y', onclick }, [children]). Text only, never HTML. */
  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'text') node.textContent = String(value);
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else if (name === 'width') node.style.width = value; // CSSOM: the CSP refuses style attributes
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  function flash(message, isError) {
    const node = $('flash');
    node.textContent = message;
    node.className = isError ? 'flash error' : 'flash';
    node.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => (node.hidden = true), 6000);
  }

  async function api(method, path, body) {
    const init = { method, headers: {}, credentials: 'same-origin' };
    if (method !== 'GET') {
      init.headers['x-csrf-token'] = csrf;
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body || {});
    }
    const response = await fetch('/console/api' + path, init);
    if (response.status === 401) {
      location.href = '/console/sign-in';
      throw new Error('signed out');
    }
    const json = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((json.error && json.error.message) || 'HTTP ' + response.status);
    return json;
  }

  /** A confirmation dialog; resolves to the fields' values, or null when cancelled. */
  function confirmDialog(title, text, okLabel, fields, danger) {
    const dialog = $('confirm');
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    const box = $('confirm-fields');
    box.replaceChildren(...(fields || []).map((f) => el('label', { text: f.label }, [el('input', { name: f.name, type: f.type || 'text', placeholder: f.placeholder, step: f.step })])));
    const ok = $('confirm-ok');
    ok.textContent = okLabel;
    ok.className = danger ? 'danger' : '';
    dialog.returnValue = '';
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => {
        if (dialog.returnValue !== 'ok') return resolve(null);
        const values = {};
        for (const input of box.querySelectorAll('input')) if (input.value !== '') values[input.name] = input.value;
        resolve(values);
      }, { once: true });
    });
  }

  // ---- tabs ----
  const loaders = {};
  let current = '';
  function show() {
    const tab = (location.hash || '#overview').slice(1);
    current = loaders[tab] ? tab : 'overview';
    for (const section of document.querySelectorAll('main > section')) section.hidden = section.id !== current;
    for (const link of document.querySelectorAll('nav a')) link.classList.toggle('active', link.dataset.tab === current);
    loaders[current]().catch((error) => flash(error.message, true));
  }
  window.addEventListener('hashchange', show);

  // ---- overview ----
  let chartWindow = 'hour';
  let chart;
  let rootNames = {};
  function bar(label, spent, cap, alerts) {
    if (cap === null || cap === undefined) {
      return el('div', { class: 'bar' }, [el('div', { class: 'label' }, [el('span', { text: label }), el('span', { text: usd(spent) + ' (no cap)' })])]);
    }
    const pct = cap > 0 ? (spent / cap) * 100 : 100;
    const sorted = (alerts || []).slice().sort((a, b) => a - b);
    const amberAt = sorted.length ? sorted[0] : 80;
    const redAt = sorted.length > 1 ? sorted[sorted.length - 1] : 100;
    const level = pct >= redAt ? 'red' : pct >= amberAt ? 'amber' : 'ok';
    return el('div', { class: 'bar ' + level, 'data-level': level, 'data-window': label }, [
      el('div', { class: 'label' }, [el('span', { text: label }), el('span', { text: usd(spent) + ' of ' + usd(cap) + ' · ' + Math.round(pct) + '%' })]),
      el('div', { class: 'track' }, [el('div', { class: 'fill', width: Math.min(100, pct).toFixed(1) + '%' })]),
    ]);
  }
  function bars(s) {
    return [bar('lifetime', s.lifetimeUsd, s.caps.lifetimeUsd, s.alerts), bar('this hour', s.hourUsd, s.caps.hourUsd, s.alerts), bar('today', s.dayUsd, s.caps.dayUsd, s.alerts)];
  }
  loaders.overview = async () => {
    const { spend } = await api('GET', '/v1/spend');
    rootNames = {};
    const cards = await Promise.all(spend.map(async (root) => {
      rootNames[root.keyId] = root.name || root.keyId;
      const { spend: all } = await api('GET', '/v1/spend?root=' + encodeURIComponent(root.keyId));
      const runs = all.filter((s) => s.keyId !== root.keyId);
      return el('div', { class: 'card', 'data-key': root.keyId }, [
        el('h3', { text: (root.name || 'root key') + ' · ' + root.keyId }),
        ...bars(root),
        runs.length ? el('div', { class: 'runs' }, runs.map((r) => el('div', { 'data-key': r.keyId }, [el('strong', { text: 'run ' + (r.runId || r.keyId) }), el('span', { class: 'muted', text: ' ' + (r.name || '') + ' ' + r.keyId }), ...bars(r)]))) : null,
      ]);
    }));
    $('spend').replaceChildren(...(cards.length ? cards : [el('p', { class: 'muted', text: 'No active root keys.' })]));
    await drawChart();
  };
  async function drawChart() {
    const data = await api('GET', '/v1/spend/series?window=' + chartWindow);
    $('chart-empty').hidden = data.series.length > 0;
    const box = $('chart');
    if (chart) chart.destroy();
    chart = undefined;
    box.replaceChildren();
    if (!window.uPlot || data.series.length === 0) return;
    const colours = ['#2f5bea', '#d92d20', '#1f9d55', '#e09b00', '#7a3cc3', '#0e8a9a'];
    const width = Math.max(280, box.clientWidth - 16);
    chart = new window.uPlot({
      width,
      height: width < 500 ? 200 : 260,
      scales: { x: { time: true } },
      axes: [{}, { values: (u, ticks) => ticks.map((v) => '$' + v) }],
      series: [{}, ...data.series.map((s, i) => ({ label: rootNames[s.rootKeyId] || s.rootKeyId, stroke: colours[i % colours.length], width: 2, value: (u, v) => usd(v) }))],
    }, [data.times, ...data.series.map((s) => s.usd)], box);
  }
  for (const button of document.querySelectorAll('[data-window]')) {
    button.addEventListener('click', () => {
      chartWindow = button.dataset.window;
      for (const b of document.querySelectorAll('button[data-window]')) b.classList.toggle('selected', b === button);
      drawChart().catch((error) => flash(error.message, true));
    });
  }

  // ---- feed ----
  let source;
  const MAX_ROWS = 300;
  function feedRow(row) {
    const cost = row.actualCostUsd !== null ? row.actualCostUsd : row.estimatedCostUsd;
    return el('tr', { 'data-seq': row.seq, 'data-decision': row.decision, onclick: () => openEntry(row) }, [
      el('td', { text: row.seq }),
      el('td', { text: time(row.time) }),
      el('td', {}, [el('span', { class: 'badge ' + row.decision, text: row.decision })]),
      el('td', { text: row.code }),
      el('td', { text: [row.vendor, row.operation].filter(Boolean).join(' · ') }),
      el('td', { text: usd(cost) }),
      el('td', { text: row.keyId || '' }),
      el('td', { text: row.runId || '' }),
    ]);
  }
  function adminRow(event) {
    return el('tr', { 'data-admin': event.type, onclick: () => openEntry(event) }, [
      el('td', { text: '' }),
      el('td', { text: time(event.at) }),
      el('td', {}, [el('span', { class: 'badge admin revoked', text: 'key revoked' })]),
      el('td', { text: event.type }),
      el('td', { text: 'by ' + event.by }),
      el('td', { text: '' }),
      el('td', { text: event.keyId }),
      el('td', { text: '' }),
    ]);
  }
  function prepend(tr) {
    const body = $('feed-rows');
    tr.classList.add('fresh');
    body.prepend(tr);
    while (body.children.length > MAX_ROWS) body.lastElementChild.remove();
  }
  function openEntry(entry) {
    $('entry-title').textContent = entry.seq ? 'Audit row #' + entry.seq : 'Admin event';
    $('entry-table').replaceChildren(...Object.entries(entry).map(([k, v]) => el('tr', {}, [el('th', { text: k }), el('td', { text: v === null ? '—' : (k === 'time' || k === 'at') ? v + ' (' + dateTime(v) + ')' : typeof v === 'object' ? JSON.stringify(v) : String(v) })])));
    $('entry').showModal();
  }
  function connect() {
    if (source) source.close();
    $('feed-rows').replaceChildren();
    const params = new URLSearchParams();
    for (const [name, value] of new FormData($('filters'))) if (value) params.set(name, String(value).trim());
    source = new EventSource('/console/api/v1/audit/stream?' + params);
    const live = $('live');
    source.onopen = () => { live.textContent = 'live'; live.className = 'live on'; };
    source.onerror = () => { live.textContent = 'reconnecting…'; live.className = 'live'; };
    source.addEventListener('row', (e) => prepend(feedRow(JSON.parse(e.data))));
    source.addEventListener('admin', (e) => {
      prepend(adminRow(JSON.parse(e.data)));
      if (current === 'keys') loaders.keys().catch(() => {});
    });
  }
  $('filters').addEventListener('submit', (e) => { e.preventDefault(); connect(); });
  async function verify() {
    const box = $('verify');
    box.className = 'verify';
    box.textContent = 'Verifying the audit chain…';
    const v = await api('GET', '/v1/audit/verify');
    if (v.ok) {
      box.className = 'verify ok';
      box.textContent = 'Audit chain verified: ' + v.rows + ' rows, unbroken.';
    } else {
      box.className = 'verify bad';
      box.replaceChildren(el('strong', { text: 'Audit chain broken at row #' + v.seq + ' ' }), document.createTextNode('(' + v.problem + '): ' + v.message + ' '));
    }
    box.append(' ', el('button', { class: 'small secondary', text: 'Verify again', onclick: () => verify().catch((e) => flash(e.message, true)) }));
  }
  loaders.feed = async () => {
    if (!source || source.readyState === 2) connect();
    await verify();
  };

  // ---- keys ----
  loaders.keys = async () => {
    const { keys } = await api('GET', '/v1/keys?limit=1000');
    $('key-rows').replaceChildren(...keys.map((k) => el('tr', { 'data-key': k.id }, [
      el('td', { text: k.name || '' }),
      el('td', { text: k.id }),
      el('td', { text: k.policy || '' }),
      el('td', { text: k.runId || '' }),
      el('td', { text: k.parentId || 'root' }),
      el('td', {}, [el('span', { class: 'badge ' + k.state, text: k.state })]),
      el('td', {}, [k.state === 'active' ? el('button', { class: 'small danger', text: 'Revoke', onclick: () => revoke(k) }) : null]),
    ])));
  };
  async function revoke(key) {
    const ok = await confirmDialog('Revoke ' + (key.name || key.id) + '?', 'Key ' + key.id + (key.runId ? ' (run ' + key.runId + ')' : '') + ' is refused from its next call on' + (key.parentId ? '' : ', with every run key derived from it') + '. This cannot be undone.', 'Revoke', [], true);
    if (!ok) return;
    try {
      await api('POST', '/v1/keys/' + encodeURIComponent(key.id) + '/revoke');
      flash('Revoked ' + key.id + '.');
    } catch (error) {
      flash(error.message, true);
    }
    await loaders.keys();
  }
  $('derive').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const values = Object.fromEntries(new FormData(form));
    const body = { parentToken: values.parentToken };
    if (values.runId) body.runId = values.runId;
    if (values.name) body.name = values.name;
    if (values.ttl) body.ttl = values.ttl;
    if (values.perRun) body.caps = { perRun: Number(values.perRun) };
    form.parentToken.value = '';
    try {
      const result = await api('POST', '/v1/keys/derive', body);
      const box = $('derived');
      box.replaceChildren(
        el('p', { text: (result.reused ? 'This run already had a key: ' : 'Derived ') + result.key.id + '. Its token, shown this once (copy it now; it is not stored anywhere):' }),
        el('code', { id: 'derived-token', text: result.token }),
        el('div', { class: 'actions' }, [el('button', { class: 'small secondary', text: 'Done, hide it', onclick: () => { box.replaceChildren(); box.hidden = true; } })]),
      );
      box.hidden = false;
      await loaders.keys();
    } catch (error) {
      flash(error.message, true);
    }
  });

  // ---- approvals and unknown outcomes ----
  async function askedRow(approval) {
    const { rows } = await api('GET', '/v1/audit?key=' + encodeURIComponent(approval.keyId) + '&decision=needs_approval&limit=200&before=' + Number.MAX_SAFE_INTEGER);
    return rows.reverse().find((r) => r.message && r.message.includes(approval.id));
  }
  loaders.approvals = async () => {
    const [{ approvals }, { pending }, approved, denied, { keys }] = await Promise.all([
      api('GET', '/v1/approvals?state=pending'),
      api('GET', '/v1/pending'),
      api('GET', '/v1/approvals?state=approved&limit=1000'),
      api('GET', '/v1/approvals?state=denied&limit=1000'),
      api('GET', '/v1/keys?limit=1000'),
    ]);
    const byId = Object.fromEntries(keys.map((k) => [k.id, k]));
    const keyLabel = (id) => (byId[id] && byId[id].name ? byId[id].name + ' · ' : '') + id;
    const count = $('approvals-count');
    count.textContent = String(approvals.length);
    count.hidden = approvals.length === 0;
    const cards = await Promise.all(approvals.map(async (a) => {
      const asked = await askedRow(a).catch(() => undefined);
      const key = byId[a.keyId];
      const amount = asked && asked.amount !== null ? ' · amount ' + asked.amount + ' ' + (asked.currency || '') : '';
      return el('div', { class: 'card', 'data-approval': a.id }, [
        el('h3', { text: a.vendor + ' ' + a.operation + (a.recipient ? ' to ' + a.recipient : '') + ' · up to ' + usd(a.costMicros / 1e6) + amount }),
        el('div', { class: 'muted', text: 'key ' + keyLabel(a.keyId) + ((asked && asked.runId) || (key && key.runId) ? ' · run ' + ((asked && asked.runId) || key.runId) : '') + (asked && asked.agentId ? ' · agent ' + asked.agentId : '') + (a.account ? ' · account ' + a.account : '') + ' · asked ' + dateTime(a.createdAt) }),
        el('div', { class: 'actions' }, [
          el('button', { text: 'Approve', onclick: () => decide(a, 'approve') }),
          el('button', { class: 'danger', text: 'Deny', onclick: () => decide(a, 'deny') }),
        ]),
      ]);
    }));
    $('approval-list').replaceChildren(...(cards.length ? cards : [el('p', { class: 'muted', text: 'Nothing is waiting.' })]));
    $('pending-list').replaceChildren(...(pending.length ? pending.map((p) => el('div', { class: 'card', 'data-pending': p.checkpointId }, [
      el('h3', { text: (p.vendor || '') + ' ' + (p.operation || '') + ' · holds ' + usd(p.reservedUsd) }),
      el('div', { class: 'muted', text: 'key ' + keyLabel(p.keyId) + (p.runId ? ' · run ' + p.runId : '') + ' · started ' + dateTime(p.startedAt) + (p.outcomeUnknown ? ' · outcome unknown' : ' · no word since its lease ended') }),
      el('div', { class: 'actions' }, [
        el('button', { text: 'It executed', onclick: () => reconcile(p, 'executed') }),
        el('button', { class: 'secondary', text: 'It failed', onclick: () => reconcile(p, 'failed') }),
      ]),
    ])) : [el('p', { class: 'muted', text: 'No unknown outcomes.' })]));
    const decided = approved.approvals.concat(denied.approvals).sort((a, b) => (b.decidedAt || 0) - (a.decidedAt || 0)).slice(0, 20);
    $('decided-rows').replaceChildren(...decided.map((a) => el('tr', { 'data-approval': a.id }, [
      el('td', { text: dateTime(a.decidedAt) }),
      el('td', {}, [el('span', { class: 'badge ' + a.state, text: a.state })]),
      el('td', { text: a.vendor + ' ' + a.operation }),
      el('td', { text: usd(a.costMicros / 1e6) }),
      el('td', { text: keyLabel(a.keyId) }),
      el('td', { text: a.decidedBy || '' }),
    ])));
  };
  async function decide(approval, verdict) {
    const values = await confirmDialog((verdict === 'approve' ? 'Approve ' : 'Deny ') + approval.vendor + ' ' + approval.operation + '?', 'Up to ' + usd(approval.costMicros / 1e6) + ', for key ' + approval.keyId + '. Recorded with your name.', verdict === 'approve' ? 'Approve' : 'Deny', [{ name: 'reason', label: 'Reason (optional)' }], verdict === 'deny');
    if (!values) return;
    try {
      await api('POST', '/v1/approvals/' + encodeURIComponent(approval.id) + '/' + verdict, values.reason ? { reason: values.reason } : {});
      flash((verdict === 'approve' ? 'Approved' : 'Denied') + ': the agent may now retry the call.');
    } catch (error) {
      flash(error.message, true);
    }
    await loaders.approvals();
  }
  async function reconcile(p, outcome) {
    const fields = outcome === 'executed' ? [{ name: 'costUsd', label: 'What it cost, USD (default: ' + usd(p.reservedUsd) + ')', type: 'number', step: '0.01' }, { name: 'objectId', label: "The vendor's object id (optional)" }] : [];
    const values = await confirmDialog('Settle as ' + outcome + '?', (p.vendor || '') + ' ' + (p.operation || '') + ' for key ' + p.keyId + (outcome === 'executed' ? ': it keeps its cost.' : ': its reservation of ' + usd(p.reservedUsd) + ' is released.'), 'Settle as ' + outcome, fields, false);
    if (!values) return;
    const body = { outcome };
    if (values.costUsd) body.costUsd = Number(values.costUsd);
    if (values.objectId) body.objectId = values.objectId;
    try {
      await api('POST', '/v1/pending/' + encodeURIComponent(p.checkpointId) + '/reconcile', body);
      flash('Settled as ' + outcome + '.');
    } catch (error) {
      flash(error.message, true);
    }
    await loaders.approvals();
  }

  // ---- start ----
  $('sign-out').addEventListener('click', async () => {
    await fetch('/console/sign-out', { method: 'POST', headers: { 'x-csrf-token': csrf } }).catch(() => {});
    location.href = '/';
  });
  (async () => {
    const session = await api('GET', '/session');
    csrf = session.csrf;
    $('who').textContent = session.name;
    show();
    connect();
    setInterval(() => {
      if (document.hidden) return;
      if (current === 'overview') loaders.overview().catch(() => {});
      if (current === 'approvals') loaders.approvals().catch(() => {});
    }, 5000);
  })().catch((error) => flash(error.message, true));
})();
`;
