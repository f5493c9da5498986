// Slipway's web UI in a real browser (Debian's chromium, driven by
// playwright-core), through the real `slipway serve` and a fake GitHub that
// crates/cli/tests/black_box/web.rs starts and describes in the file named by
// WEB_TEST_CONFIG. Every wait is on something the page does (a selector, a
// URL, a change of text), never a fixed delay. Screenshots of the main pages
// at desktop and phone width land in the configured directory.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const AXE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const cfg = JSON.parse(fs.readFileSync(process.env.WEB_TEST_CONFIG, 'utf8'));
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const LONG = 120_000;
// Every persona's browser lives in this zone: pages show times in it.
const ZONE = 'America/New_York';
const results = {};

fs.mkdirSync(cfg.screenshots, { recursive: true });
for (const old of fs.readdirSync(cfg.screenshots)) {
  if (old.startsWith('failure-')) fs.rmSync(path.join(cfg.screenshots, old));
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

function step(name) {
  console.log(`step: ${name}`);
}

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});

const pages = [];
/** Anything the browser refuses (a Content-Security-Policy violation, a
 *  script error) fails the test. */
const problems = [];

async function persona(name, viewport = DESKTOP, storageState = undefined, colorScheme = 'light') {
  const context = await browser.newContext({ viewport, baseURL: cfg.url, storageState, colorScheme, timezoneId: ZONE });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cfg.url });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (e) => problems.push(`${name}: script error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) {
      problems.push(`${name}: ${m.text()}`);
    }
  });
  pages.push([name, page]);
  return page;
}

/** Accessibility: axe-core over the page as it is, in light and in dark.
 *  Every violation is kept (with the state it was found in); the suite
 *  fails at the end if any is serious or critical. axe runs through the
 *  debugging protocol, so the page's Content-Security-Policy stays as it is. */
const violations = [];
const axeRuns = { states: 0 };
async function axe(page, state) {
  const scheme = await page.evaluate(() => (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
  for (const colorScheme of [scheme, scheme === 'dark' ? 'light' : 'dark']) {
    await page.emulateMedia({ colorScheme });
    if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE);
    const found = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
    });
    axeRuns.states += 1;
    for (const v of found) violations.push({ ...v, state: `${state} (${colorScheme}, ${page.viewportSize().width}px)` });
  }
  await page.emulateMedia({ colorScheme: scheme });
}

async function shot(page, name) {
  const width = page.viewportSize().width;
  const file = path.join(cfg.screenshots, `${name}-${width}.png`);
  await axe(page, name);
  await page.screenshot({ path: file, fullPage: true });
  // Nothing may stick out sideways (phone width included).
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `${name} at ${width}px is ${overflow}px wider than the window`);
  // Times read as a person reads them: no RFC 3339 anywhere on the page.
  // (Terraform's own log lines, quoted as they are, are left out.)
  const machine = await page.evaluate(() => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
      acceptNode: (n) => (n.parentElement.closest('[data-log], script, [hidden]') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
    });
    let all = '';
    while (walker.nextNode()) all += walker.currentNode.textContent;
    return all;
  }).then((all) => (all.match(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:\d{2}| UTC)/) || [null])[0]);
  check(machine === null, `${name} at ${width}px shows a machine time: ${machine}`);
}

/** The API, as the administrator (what the browser's people cannot do). */
async function adminApi(method, path, body) {
  const r = await fetch(cfg.url + path, {
    method,
    headers: { authorization: `Bearer ${cfg.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  check(r.ok, `${method} ${path} answered ${r.status}`);
  return r.json();
}

/** How an operation ended, once it has (its state from the API). */
async function operationEnded(id) {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
    const op = await adminApi('GET', `/v1/operations/${id}`);
    if (!['queued', 'running'].includes(op.state)) return op.state;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`operation ${id} did not end within two minutes`);
}

async function text(page, selector) {
  return (await page.locator(selector).first().textContent()).trim();
}

async function flash(page, kind, contains) {
  const f = page.locator(`[data-flash=${kind}]`);
  await f.waitFor();
  const t = (await f.textContent()).trim();
  check(t.includes(contains), `the ${kind} message ${JSON.stringify(t)} should say ${JSON.stringify(contains)}`);
  await axe(page, `${new URL(page.url()).pathname} with the ${kind} message "${contains}"`);
  return t;
}

/** Opens a <details> (clicking its summary, as a person would) unless it is open. */
async function open(page, selector) {
  if (!(await page.locator(selector).evaluate((d) => d.open))) {
    await page.locator(`${selector} > summary`).click();
  }
}

async function signInWithToken(page, token) {
  await page.goto('/sign-in');
  await open(page, 'details:has(#token)');
  await page.fill('#token', token);
  await page.click('form[action="/sign-in"] button[type=submit]');
  await page.waitForURL((u) => u.pathname === '/');
}

/** Waits until the live panel's operation ends, and returns its state. */
async function operationEnds(page) {
  const done = page.locator('.live[data-done]');
  await done.waitFor({ timeout: LONG });
  const id = await done.getAttribute('data-operation');
  // A cluster's page then reads what the operation changed again.
  if (await page.locator('[data-refresh]').count()) {
    await page.locator(`body[data-refreshed="${id}"]`).waitFor();
  }
  return done.getAttribute('data-done');
}

try {
  // ---------------------------------------------------------------- alice
  step('a signed-out visitor is sent to sign in');
  const alice = await persona('alice');
  const first = await alice.goto('/');
  check(alice.url().includes('/sign-in'), `signed out, / goes to the sign-in page (got ${alice.url()})`);
  const headers = first.headers();
  check(headers['content-security-policy']?.includes("default-src 'self'"), 'pages carry a strict Content-Security-Policy');
  check(!headers['content-security-policy']?.includes('unsafe-inline'), 'no inline script or style is allowed');
  check(headers['x-frame-options'] === 'DENY', 'pages cannot be framed');
  await shot(alice, 'sign-in');

  step('alice signs in with GitHub (web flow with PKCE and state)');
  await alice.click('#github-sign-in');
  await alice.waitForURL((u) => u.pathname === '/');
  check((await text(alice, '.who .login')) === 'alice', 'the navigation names alice');
  const cookies = await alice.context().cookies(cfg.url);
  const session = cookies.find((c) => c.name === 'token');
  check(session && session.httpOnly && session.sameSite === 'Lax', 'the session cookie is HttpOnly and SameSite=Lax');
  await alice.locator('section:has(#own) article[data-org=research]').waitFor();
  check((await text(alice, 'footer [data-zone]')) === ZONE, 'the footer names the browser\'s zone, once the script has told the server');
  check((await alice.locator('html').getAttribute('data-tz')) === ZONE, 'the page is rendered in the browser\'s zone');
  await shot(alice, 'home');

  step('alice defines a cluster and deploys it from its page');
  await alice.click('nav a[href="/clusters"]');
  check((await alice.locator('nav [aria-current=page]').getAttribute('href')) === '/clusters', 'the navigation marks the section shown');
  await alice.click('a[href="/clusters/new"]');
  await alice.fill('#name', 'web-demo');
  await alice.selectOption('#organization', 'research');
  // Choosing the blueprint shows its settings; what was typed stays.
  await alice.selectOption('#blueprint', 'local');
  await alice.waitForURL((u) => u.searchParams.get('blueprint') === 'local');
  check((await alice.inputValue('#name')) === 'web-demo', 'the name typed stays when the blueprint is chosen');
  // A refusal about a field comes back beside it, tied to it, with what was typed.
  // (The input's own bounds would stop it first: the server checks too.)
  check((await alice.locator('#nodes').getAttribute('max')) !== null, "the node input carries the blueprint's bounds");
  await alice.fill('#nodes', '99');
  await alice.evaluate(() => document.getElementById('new-cluster').submit());
  await alice.locator('#nodes[aria-invalid=true]').waitFor();
  const describedBy = await alice.getAttribute('#nodes', 'aria-describedby');
  check(describedBy.split(' ').includes('nodes-error') && (await text(alice, '#nodes-error')).length > 0,
    `the nodes field is described by its error (${describedBy})`);
  check((await alice.inputValue('#name')) === 'web-demo' && (await alice.inputValue('#nodes')) === '99', 'what was typed is kept');
  await shot(alice, 'new-cluster-refused');
  await alice.fill('#nodes', '');
  await alice.click('form[action="/clusters"] button[type=submit]');
  await alice.waitForURL('**/clusters/web-demo');
  await flash(alice, 'ok', 'is defined');
  check((await alice.inputValue('#deploy-ttl')) === '2h', 'a deploy carries a destroy time by default');
  await alice.click('#deploy-form button[type=submit]');
  await alice.waitForURL('**/clusters/web-demo');
  await flash(alice, 'ok', 'queued');

  step('the live log streams to "succeeded" and the progress bar reaches its end');
  check((await operationEnds(alice)) === 'succeeded', 'the deploy succeeded');
  await alice.locator('.live [data-op-state=succeeded]').waitFor();
  const bar = await alice.locator('.live [data-progress]').evaluate((p) => [p.value, p.max]);
  check(bar[0] === bar[1] && bar[1] >= 1, `the progress bar is full (${bar})`);
  const lines = await alice.locator('.live [data-log] li').count();
  check(lines >= 3, `the log streamed its lines (${lines})`);
  check((await alice.locator('.live [data-log] li[data-kind=operation_finished]').textContent()).includes('succeeded'),
    'the last line says the deploy succeeded');
  await alice.locator('[data-field=state] [data-state=running]').waitFor();
  check((await text(alice, '[data-field=endpoint]')).startsWith('http'), 'the endpoint is shown');
  // What the deploy changed is shown without a reload.
  await alice.locator('#outputs-section dl.outputs dt', { hasText: 'endpoint' }).waitFor();
  await alice.locator('#history-section [data-op-state=succeeded]').waitFor();
  await alice.locator('#actions-section h3', { hasText: 'Resize or update' }).waitFor();
  await shot(alice, 'cluster');
  const dark = await persona('alice-dark', DESKTOP, await alice.context().storageState(), 'dark');
  await dark.goto('/clusters/web-demo');
  await dark.locator('.live[data-operation]').waitFor();
  await shot(dark, 'cluster-dark');
  await dark.context().close();

  step('alice extends the cluster, and the countdown moves');
  const before = await alice.getAttribute('[data-field=destroy-at] [data-countdown]', 'data-countdown');
  await alice.fill('#extend-in', '3h');
  await alice.click('#extend-form button[type=submit]');
  await alice.waitForURL('**/clusters/web-demo');
  const extended = await flash(alice, 'ok', 'will be destroyed at');
  const after = await alice.getAttribute('[data-field=destroy-at] [data-countdown]', 'data-countdown');
  const local = await alice.evaluate(([at, zone]) => {
    const p = {};
    for (const x of new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).formatToParts(new Date(at))) p[x.type] = x.value;
    return `${p.month} ${p.day}, ${p.year}, ${p.hour}:${p.minute}`;
  }, [after, ZONE]);
  check(extended.includes(local), `the flash ${JSON.stringify(extended)} names the destroy time in ${ZONE}: ${local}`);
  check((await text(alice, '[data-field=destroy-at] time')) === local, 'the page shows the destroy time in the same zone and words');
  const moved = (Date.parse(after) - Date.parse(before)) / 1000;
  check(moved > 3000 && moved < 4000, `the destroy time moved an hour later (${moved} s)`);
  const shown = await text(alice, '[data-field=destroy-at] [data-countdown]');
  check(/^in (2h 5\dm|3h 00m)/.test(shown), `the countdown reads about three hours (${shown})`);
  await alice.waitForFunction((was) => document.querySelector('[data-field=destroy-at] [data-countdown]').textContent.trim() !== was, shown);

  step('alice refreshes the running cluster; while it runs, other changes wait and it can be cancelled here');
  await alice.click('#refresh-form button[type=submit]');
  await alice.waitForURL('**/clusters/web-demo');
  await flash(alice, 'ok', 'Refresh queued');
  check((await operationEnds(alice)) === 'succeeded', 'the refresh succeeded');
  await alice.locator('[data-flash=ok][data-ended=succeeded]', { hasText: 'It has ended: succeeded' }).waitFor();
  await alice.locator('[data-field=state] [data-state=running]').waitFor();

  step('alice cancels a deploy from the cluster page, past its confirmation');
  await alice.goto('/clusters/slow-demo');
  await alice.click('#deploy-form button[type=submit]');
  await flash(alice, 'ok', 'Deploy queued');
  check(await alice.locator('#deploy-form button[type=submit]').isDisabled(), 'no second change while one is in flight');
  await alice.click('#cancel-form button');
  await alice.locator('[data-confirm-step]').waitFor();
  await alice.click('[data-confirm-yes]');
  await flash(alice, 'ok', 'ancel');
  check((await operationEnds(alice)) === 'cancelled', 'the deploy is cancelled');
  check((await alice.locator('.live [data-progress]').getAttribute('data-ended')) === 'cancelled', 'the bar stops where it was, marked');
  await alice.goto('/clusters/web-demo');

  step('the operation history links to each operation with its log');
  await alice.click('table.operations tbody tr:first-child a');
  await alice.waitForURL('**/operations/op_*');
  await alice.locator('[data-op-state=succeeded]').first().waitFor();
  check((await alice.locator('[data-log] li').count()) >= 3, 'the operation page shows its log');
  await alice.goBack();

  step('alice copies a cluster token');
  await alice.click('form[action="/clusters/web-demo/access"] button');
  const token = await alice.inputValue('#cluster-token');
  check(token.split('.').length === 3, 'a cluster token (a JWT) is shown');
  await alice.click('button[data-copy=cluster-token]');
  await alice.locator('.copied', { hasText: /Copied|Selected/ }).waitFor();
  await alice.goto('/clusters/web-demo');

  step('destroy asks for the cluster\'s name, and the server checks it too');
  check(await alice.locator('#destroy-form [data-confirm-button]').isDisabled(), 'destroy waits for the name');
  await alice.fill('#destroy-confirm', 'web-dem');
  check(await alice.locator('#destroy-form [data-confirm-button]').isDisabled(), 'a wrong name does not do');
  await alice.evaluate(() => document.getElementById('destroy-form').submit());
  await alice.waitForURL('**/clusters/web-demo');
  await flash(alice, 'refused', "type the cluster's name");
  await alice.locator('[data-field=state] [data-state=running]').waitFor();
  await alice.fill('#destroy-confirm', 'web-demo');
  check(!(await alice.locator('#destroy-form [data-confirm-button]').isDisabled()), 'the right name enables destroy');
  await alice.click('#destroy-form [data-confirm-button]');
  await alice.waitForURL('**/clusters/web-demo');
  await flash(alice, 'ok', 'Destroy queued');
  check((await operationEnds(alice)) === 'succeeded', 'the destroy succeeded');
  await alice.locator('[data-field=state] [data-state=absent]').waitFor();
  check((await alice.locator('#extend-form, #destroy-form, #refresh-form').count()) === 0,
    'nothing deployed: no extend, refresh or destroy');
  check((await alice.locator('#remove-form').count()) === 1, 'nothing deployed: the definition may be removed');
  check((await alice.locator('#visibility-form').count()) === 0, 'making a cluster public is for administrators');

  step('alice defines a cluster whose blueprint asks for a required, sensitive setting, and deploys it');
  await alice.goto('/clusters/new?blueprint=secretive&organization=research');
  check((await alice.locator('#var-password').getAttribute('type')) === 'password', 'a sensitive setting is typed unseen');
  check((await text(alice, 'label[for=var-password]')).includes('required'), 'a setting without a default is required');
  check((await alice.locator('#nodes').getAttribute('max')) === '3', "the node input takes the blueprint's bounds");
  await alice.fill('#name', 'secret-demo');
  await alice.fill('#var-password', 'hunter2-in-the-browser');
  await alice.click('#new-cluster button[type=submit]');
  await alice.waitForURL('**/clusters/secret-demo');
  await flash(alice, 'ok', 'is defined');
  check((await text(alice, '[data-field=variables]')).includes('(sensitive)'), 'the setting is shown masked');
  await alice.click('#deploy-form button[type=submit]');
  await flash(alice, 'ok', 'Deploy queued');
  check((await operationEnds(alice)) === 'succeeded', 'the cluster with a secret deploys');
  check(!(await alice.content()).includes('hunter2-in-the-browser'), 'the secret never comes back to a page');
  const output = (name) => text(alice, `#outputs-section dl.outputs dt:text-is("${name}") + dd`);
  const digest = crypto.createHash('sha256').update('hunter2-in-the-browser').digest('hex');
  check((await output('password_digest')) === digest, 'Terraform got the secret typed in the browser');
  await shot(alice, 'cluster-with-settings');

  step('alice changes a setting from the deploy form; the secret she does not type again is kept');
  await open(alice, '#deploy-settings');
  check((await alice.inputValue('#var-password')) === '', 'a set secret is never put back in a field');
  check((await alice.getAttribute('#var-password', 'placeholder')).includes('leave empty to keep'), 'the field says the secret is set and kept');
  check((await alice.getAttribute('#var-greeting', 'placeholder')) === 'hello', "a setting left at its default shows the default");
  await alice.fill('#var-greeting', 'bonjour');
  await alice.fill('#var-password', 'typed-then-refused');
  await alice.fill('#deploy-nodes', '9');
  await alice.evaluate(() => document.getElementById('deploy-form').submit());
  await alice.locator('#deploy-nodes[aria-invalid=true]').waitFor();
  check((await alice.getAttribute('#deploy-nodes', 'aria-describedby')).split(' ').includes('deploy-nodes-error')
    && (await text(alice, '#deploy-nodes-error')).includes('3'), 'the refusal is beside the nodes field, naming the bound');
  check((await alice.inputValue('#deploy-nodes')) === '9' && (await alice.inputValue('#var-greeting')) === 'bonjour', 'what was typed is kept');
  check(!alice.url().includes('typed-then-refused') && !(await alice.content()).includes('typed-then-refused'), 'a typed secret is not carried back');
  await shot(alice, 'deploy-refused');
  // Only a refusal fills a form back: a link someone sends does not.
  const current = await text(alice, '[data-field=nodes]');
  await alice.goto('/clusters/secret-demo?form=deploy-form&nodes=3&var.greeting=planted');
  check((await alice.inputValue('#deploy-nodes')) === current && (await alice.inputValue('#var-greeting')) === '',
    'a crafted link does not fill the deploy form');
  await alice.goto('/clusters/secret-demo');
  await open(alice, '#deploy-settings');
  await alice.fill('#var-greeting', 'bonjour');
  await alice.fill('#deploy-nodes', '1');
  await alice.click('#deploy-form button[type=submit]');
  await flash(alice, 'ok', 'queued');
  check((await operationEnds(alice)) === 'succeeded', 'the update succeeded');
  await alice.locator('#outputs-section dl.outputs dd', { hasText: 'bonjour' }).waitFor();
  check((await output('password_digest')) === digest, 'the secret was kept');
  check((await text(alice, '[data-field=variables]')).includes('(sensitive)'), 'and is still shown masked');

  step('a priced cluster shows its rate, its cost so far, and estimates before a deploy');
  await alice.goto('/clusters/spend');
  check((await text(alice, '[data-field=rate]')).startsWith('$0.00/h'), 'spend, destroyed, costs nothing now');
  const soFar = await text(alice, '[data-field=cost-so-far]');
  check(/^\$\d{1,3}(,\d{3})*\.\d{2} /.test(soFar) && !soFar.startsWith('$0.00'), `what spend cost so far (it ran seconds at $756.00/h) is money, and not nothing: ${soFar}`);
  const estimate = alice.locator('#deploy-estimate [data-estimate-text]');
  check((await estimate.textContent()) === '2 nodes × $360.00 + $36.00 = $756.00/h; for 2h ≈ $1,512.00',
    `the deploy form estimates its defaults (${await estimate.textContent()})`);
  await alice.fill('#deploy-nodes', '3');
  await alice.waitForFunction(() => document.querySelector('#deploy-estimate [data-estimate-text]').textContent.startsWith('3 nodes'));
  check((await estimate.textContent()) === '3 nodes × $360.00 + $36.00 = $1,116.00/h; for 2h ≈ $2,232.00', `the estimate follows the nodes (${await estimate.textContent()})`);
  await alice.fill('#deploy-ttl', '90m');
  await alice.waitForFunction(() => document.querySelector('#deploy-estimate [data-estimate-text]').textContent.includes('1h 30m'));
  check((await estimate.textContent()).endsWith('for 1h 30m ≈ $1,674.00'), `the estimate follows the duration (${await estimate.textContent()})`);
  await shot(alice, 'cluster-estimate');

  await alice.goto('/clusters/new?organization=research&blueprint=priced');
  check((await text(alice, '#new-estimate [data-estimate-text]')) === '2 nodes × $360.00 + $36.00 = $756.00/h', 'a new cluster of the blueprint\'s default size is estimated');
  await alice.selectOption('#blueprint', 'local');
  await alice.waitForFunction(() => document.querySelector('#new-estimate [data-estimate-text]').textContent.includes('$0.00 + $0.00'));

  step('alice sees the deployments a repository applied, environments side by side');
  await alice.click('nav a[href="/deployments"]');
  const site = alice.locator('section[data-deployment=site]');
  await site.waitFor();
  check((await site.locator('tr[data-environment=staging] td[data-tested=passed]').count()) === 1, "staging's tests since its apply passed");
  check((await site.locator('tr[data-environment=prod] td[data-tested=none]').count()) === 1, 'prod has not been tested since');
  check((await site.locator('span.hint', { hasText: 'the same elsewhere' }).count()) === 2, 'both environments got the same common values');
  const pending = site.locator('.pending-plan[data-environment=staging] details.plan');
  check((await pending.locator('summary').textContent()) === 'Plan: 1 to add, 0 to change, 0 to destroy.', "staging's pending change is planned as Terraform summarizes it");
  check((await pending.locator('pre.plan').textContent()).includes('+ terraform_data.node[1] (create)'), 'and the plan names the resource it adds');
  const prodChange = site.locator('.pending-plan[data-environment=prod]');
  check((await prodChange.locator('ul.changes').textContent()).includes('nodes: 1 → 2'), "prod's proposed change says what it changes");
  check((await site.locator('tr[data-environment=staging] td[data-drift="0"]').count()) === 1, 'staging did not drift');
  check((await site.locator('tr[data-environment=prod] td[data-promotion=current]').count()) === 1, 'prod runs what staging was applied');
  check((await site.locator('tr[data-environment=prod] td[data-drift="1"]').textContent()).includes('terraform_data.node[0]'), "prod's stopped node is its drift");
  await site.locator('tr[data-environment=prod] a', { hasText: 'site-prod' }).click();
  check((await text(alice, 'dd[data-field=drift]')).includes('terraform_data.node[0]'), "prod's page says what drifted");
  check((await text(alice, 'dd[data-field=drift]')).includes('deploying the same configuration repairs it'), 'and how to repair it');
  await alice.goBack();
  check((await site.locator('tr[data-environment=staging] td[data-promotion=none]').count()) === 1, 'staging comes after nothing');
  await shot(alice, 'deployments');

  step('alice reads the blueprint catalog: the versions she may use, with their variables');
  await alice.click('nav a[href="/blueprints"]');
  const catalogLocal = alice.locator('section.blueprint[data-blueprint=local]').first();
  await catalogLocal.waitFor();
  check((await catalogLocal.locator('[data-field=organizations]').textContent()).trim() === 'every organization', 'the local blueprint is for every organization');
  check((await catalogLocal.locator('tr[data-variable=boot_seconds]').count()) === 1, "its variables are listed, boot_seconds among them");
  await axe(alice, '/blueprints');
  await alice.goto('/deployments');

  step('alice applies the changes dry runs proposed, with the checks slipway apply makes: prod only after staging passed its tests');
  await prodChange.locator('[data-apply-proposal=prod]').click();
  await alice.locator('[data-confirm-step]').waitFor();
  await alice.click('[data-confirm-yes]');
  await flash(alice, 'refused', 'prod takes only what staging was applied and tested');
  await site.locator('.pending-plan[data-environment=staging] [data-apply-proposal=staging]').click();
  await alice.click('[data-confirm-yes]');
  const applied = await flash(alice, 'ok', 'Applying the change to site-staging');
  check((await operationEnded(applied.match(/operation (op_\w+)/)[1])) === 'succeeded', "staging's change is applied");
  const run = await adminApi('POST', '/v1/clusters/site-staging/test', { version: 'v1' });
  check((await operationEnded(run.operation.id)) === 'succeeded', "staging's tests ran");
  await alice.goto('/deployments');
  check((await site.locator('.pending-plan[data-environment=staging]').count()) === 0, "staging's change is no longer pending");
  check((await site.locator('tr[data-environment=staging] td[data-tested=passed]').count()) === 1, "staging's change passed its tests");
  check((await site.locator('tr[data-environment=prod] td[data-promotion=ready]').count()) === 1, "prod may now take staging's change");
  await prodChange.locator('[data-apply-proposal=prod]').click();
  await alice.click('[data-confirm-yes]');
  const promoted = await flash(alice, 'ok', 'Applying the change to site-prod');
  check((await operationEnded(promoted.match(/operation (op_\w+)/)[1])) === 'succeeded', "prod's change is applied");
  await alice.goto('/deployments');
  check((await site.locator('tr[data-environment=prod] td[data-promotion=current]').count()) === 1, 'prod runs what staging runs');
  check((await site.locator('.pending-plan').count()) === 0, 'no change is pending');

  // ---------------------------------------------------------------- carol
  step('carol asks to join research');
  const carol = await persona('carol');
  await signInWithToken(carol, cfg.carolToken);
  await flash(carol, 'ok', 'Signed in as carol');
  await carol.click('li[data-org=research] button');
  await flash(carol, 'ok', 'asked to join research');
  await carol.locator('li[data-org=research] .tag', { hasText: 'requested' }).waitFor();

  step('an owner (alice) approves the request');
  await alice.goto('/orgs/research');
  await alice.locator('#membership-requests li[data-member=carol]').waitFor();
  await alice.click('#membership-requests li[data-member=carol] button:text-is("Approve")');
  await flash(alice, 'ok', 'carol is now a member of research');
  await alice.locator('#members-table tr[data-member=carol]').waitFor();

  step('carol, now a member, asks for capacity and the cluster grows');
  await carol.goto('/clusters/shared');
  check((await text(carol, '[data-field=nodes]')) === '1', 'shared runs one node');
  await carol.fill('#capacity-nodes', '2');
  await carol.fill('#capacity-ttl', '1h');
  await carol.locator('#capacity-estimate', { hasText: '2 nodes × $0.00 + $0.00 = $0.00/h; for 1h ≈ $0.00' }).waitFor();
  await carol.click('#capacity-form button[type=submit]');
  await carol.waitForURL('**/clusters/shared');
  await flash(carol, 'ok', 'Asked for 2 nodes');
  check((await operationEnds(carol)) === 'succeeded', 'the update succeeded');
  await carol.waitForFunction(() => document.querySelector('[data-field=nodes]').textContent.trim() === '2');
  await carol.locator('[data-field=state] [data-state=running]').waitFor();
  await carol.locator('#capacity-requests td', { hasText: 'carol' }).first().waitFor();

  step('withdrawing a capacity request asks first, and cancelling changes nothing');
  await carol.locator('#capacity-requests button', { hasText: 'Withdraw' }).first().click();
  await carol.locator('[data-confirm-step]').waitFor();
  check((await text(carol, '#confirm-what')).includes('cluster shared'), 'the confirmation says what is withdrawn');
  await carol.click('[data-confirm-cancel]');
  await carol.waitForURL('**/clusters/shared');
  await carol.locator('#capacity-requests td', { hasText: 'carol' }).first().waitFor();
  check((await text(carol, '[data-field=nodes]')) === '2', 'the cluster keeps its size');

  // ---------------------------------------------------------------- plots
  step('the cost and forecast plots render with data');
  await alice.goto('/orgs/research?costs=hourly&forecast=daily');
  const bars = Number(await alice.getAttribute('#cost-plot svg', 'data-bars'));
  check(bars >= 1, `the cost history has bars (${bars})`);
  check((await alice.locator('#cost-plot rect.bar').count()) >= 1, 'bars are drawn');
  check((await alice.locator('#cost-plot ul.legend li', { hasText: 'spend' }).count()) === 1, 'the legend names the cluster that cost');
  check(Number(await alice.getAttribute('#forecast-plot svg', 'data-series')) === 3, 'three forecast series');
  check(Number(await alice.getAttribute('#forecast-plot svg', 'data-points')) > 30, 'the forecast has points');
  check((await alice.locator('#forecast-plot polyline').count()) === 3, 'three lines are drawn');
  check(/^\$\d{1,3}(,\d{3})*\.\d{2} USD$/.test(await text(alice, '[data-field=balance]')), 'the balance is money, to the cent');
  const rates = await alice.locator('dl.account').innerText();
  check(!/\$\d+\.\d{3}/.test(rates) && !/(^|[^$\d,.])\d+\.\d{2}\b/.test(rates.replace(/\d{1,2}:\d{2}/g, '')), `every amount on the account reads as money: ${rates}`);
  check((await text(alice, '#forecast-plot text.unit')) === `time (${ZONE})`, 'the plot\'s time axis names the zone');
  check((await alice.locator('#forecast-plot [data-guide=now]').count()) === 1, 'the forecast marks now');
  check((await text(alice, '#forecast-plot .guides text:last-child')).startsWith('shutdown floor $'), 'and the floor below which clusters are shut down');
  check((await text(alice, '#forecast-plot text.y-title')) === 'balance (US dollars)', 'the y axis has a title');
  check(/since Oct 1, \d{4}/.test(rates), 'the fiscal year starts on a date, Oct 1, whatever the zone');
  await shot(alice, 'org');

  // ---------------------------------------------------------------- bob
  step('a member of another organization sees none of it');
  const bob = await persona('bob');
  await signInWithToken(bob, cfg.bobToken);
  const home = await bob.content();
  for (const secret of ['web-demo', 'shared', 'spend', 'carol']) {
    check(!home.includes(secret), `bob's home page does not show ${secret}`);
  }
  check((await bob.locator('li[data-org=research] button', { hasText: 'Request membership' }).count()) === 1,
    'bob may ask to join research');
  // Another organization's private cluster, and its operations, are
  // answered as ones that do not exist; the organization (which anyone may
  // ask to join) refuses.
  for (const [link, status, title, words] of [
    ['/clusters/shared', 404, 'Not found', 'does not exist'],
    ['/orgs/research', 403, 'Not allowed', 'only members of organization research'],
    [`/operations/${cfg.sharedOperation}`, 404, 'Not found', 'does not exist'],
  ]) {
    const response = await bob.goto(link);
    check(response.status() === status, `${link} is refused to bob (${response.status()})`);
    await bob.locator('h1', { hasText: title }).waitFor();
    const message = await text(bob, '.refusal .message');
    check(message.toLowerCase().includes(words), `${link}: ${JSON.stringify(message)} says ${words}`);
    const page = await bob.content();
    check(!page.includes('carol') && !page.includes('panicked') && !page.includes('"error"'), `${link} shows no data and no dump`);
  }
  await shot(bob, 'refused');
  await bob.goto('/deployments');
  await bob.locator('p.empty', { hasText: 'No repository has been applied yet' }).waitFor();
  check(!(await bob.content()).includes('site-staging'), "bob sees none of research's deployments");
  const runsRefused = await bob.goto('/runs');
  check(runsRefused.status() === 403, `the runs page is for administrators (${runsRefused.status()})`);
  for (const [link, status] of [['/no-such-page', 404], ['/clusters/shared/nothing', 404]]) {
    const answer = await bob.goto(link);
    check(answer.status() === status && answer.headers()['content-type'].startsWith('text/html'), `${link} is an HTML ${status} (${answer.status()} ${answer.headers()['content-type']})`);
    await bob.locator(`[data-missing="${status}"]`).waitFor();
    check(answer.headers()['content-security-policy']?.includes("default-src 'self'"), `${link} carries the pages' Content-Security-Policy`);
    check((await text(bob, '.who .login')) === 'bob', 'the page keeps the navigation of whoever looks');
  }
  await shot(bob, 'not-found');
  const notAllowed = await bob.evaluate(async () => { const r = await fetch('/tokens/x/revoke'); return [r.status, r.headers.get('content-type')]; });
  check(notAllowed[0] === 405 && notAllowed[1].startsWith('text/html'), `a page's path with the wrong method is an HTML 405 (${notAllowed})`);
  const api = await bob.evaluate(async () => { const r = await fetch('/v1/nothing-here'); return [r.status, (await r.json()).error.code]; });
  check(api[0] === 404 && api[1] === 'not_found', `the API's unknown paths keep their JSON (${api})`);
  const missing = await bob.goto('/clusters/no-such-cluster');
  check(missing.status() === 404, 'a cluster that does not exist is a clear 404');
  await bob.locator('h1', { hasText: 'Not found' }).waitFor();

  // ---------------------------------------------------------------- admin
  step('the administrator signs in with the bootstrap token');
  const admin = await persona('admin');
  await signInWithToken(admin, cfg.adminToken);
  await admin.click('nav a[href="/admin"]');
  await admin.locator('#audit-log tbody tr').first().waitFor();
  const detail = admin.locator('#audit-log [data-audit-detail]').first();
  check(!(await detail.evaluate((d) => d.open)), 'an entry\'s details fold away');
  await detail.locator('summary').click();
  check((await detail.locator('pre').textContent()).includes('"'), 'and open to read');
  check((await admin.locator('#blueprints ~ .table-wrap td', { hasText: 'priced' }).count()) >= 1, 'blueprint versions are listed');

  step('the administrator creates an API token (its secret shown once) and revokes it');
  await open(admin, '#new-token');
  await admin.fill('#token-name', 'ci-pipeline');
  await admin.check('input[name=scopes][value="clusters:write"]');
  await admin.click('#new-token button[type=submit]');
  const secret = await admin.inputValue('#token-secret');
  check(secret.startsWith('slw_'), 'the new secret is shown');
  results.revokedSecret = secret;
  await admin.goto('/admin#tokens');
  const row = admin.locator('tr[data-token-name=ci-pipeline]');
  check((await row.locator('[data-token-state]').getAttribute('data-token-state')) === 'active', 'the token is active');
  check(!(await admin.content()).includes(secret), 'the secret is never shown again');
  await row.locator('button', { hasText: 'Revoke' }).click();
  await admin.locator('[data-confirm-step]').waitFor();
  await shot(admin, 'confirm');
  await admin.click('[data-confirm-cancel]');
  await admin.waitForURL((u) => u.pathname === '/admin');
  check((await admin.locator('tr[data-token-name=ci-pipeline] [data-token-state]').getAttribute('data-token-state')) === 'active',
    'a revocation cancelled at its confirmation leaves the token active');
  const stillWorks = await admin.evaluate(async (token) => (await fetch('/v1/clusters', { headers: { authorization: `Bearer ${token}` } })).status, secret);
  check(stillWorks === 200, `the token still authenticates after the cancelled revocation (${stillWorks})`);
  await admin.locator('tr[data-token-name=ci-pipeline] button', { hasText: 'Revoke' }).click();
  await admin.click('[data-confirm-yes]');
  await flash(admin, 'ok', 'is revoked');
  check((await admin.locator('tr[data-token-name=ci-pipeline] [data-token-state]').getAttribute('data-token-state')) === 'revoked',
    'the token shows revoked');

  step('the audit log filters');
  await admin.fill('#audit-action', 'token.revoke');
  await admin.click('form[action="/admin#audit"] button');
  await admin.locator('#audit-log tr[data-action="token.revoke"]').first().waitFor();
  check((await admin.locator('#audit-log tbody tr:not([data-action="token.revoke"])').count()) === 0, 'only revocations are listed');

  step('the administrator rotates the signing key');
  const keysBefore = await text(admin, 'section[aria-labelledby=keys] p');
  await admin.click('form[action="/admin/rotate-keys"] button');
  await admin.locator('[data-confirm-step]').waitFor();
  await admin.click('[data-confirm-cancel]');
  await admin.waitForURL((u) => u.pathname === '/admin');
  check((await text(admin, 'section[aria-labelledby=keys] p')) === keysBefore, 'a rotation cancelled at its confirmation changes no key');
  await admin.click('form[action="/admin/rotate-keys"] button');
  await admin.click('[data-confirm-yes]');
  await flash(admin, 'ok', 'Rotated');
  check((await text(admin, 'section[aria-labelledby=keys] p')) !== keysBefore, 'a confirmed rotation publishes a new key');
  await admin.goto('/admin');
  await shot(admin, 'admin');

  step('the estimate shown before a deploy is the rate the cluster is then charged at (an administrator: research\'s budget would refuse it)');
  await admin.goto('/clusters/spend');
  await admin.fill('#deploy-nodes', '2');
  await admin.fill('#deploy-ttl', '2h');
  await admin.waitForFunction(() => document.querySelector('#deploy-estimate [data-estimate-text]').textContent.startsWith('2 nodes'));
  const promised = (await text(admin, '#deploy-estimate [data-estimate-text]')).match(/= (\$[\d,.]+\/h)/)[1];
  check(promised === '$756.00/h', `the estimate's rate (${promised})`);
  await admin.click('#deploy-form button[type=submit]');
  await flash(admin, 'ok', 'queued');
  check((await operationEnds(admin)) === 'succeeded', 'spend is deployed');
  await admin.waitForFunction((p) => document.querySelector('[data-field=rate]').textContent.trim().startsWith(p), promised);
  await admin.fill('#destroy-confirm', 'spend');
  await admin.click('#destroy-form [data-confirm-button]');
  await flash(admin, 'ok', 'Destroy queued');
  check((await operationEnds(admin)) === 'succeeded', 'spend is destroyed');
  await admin.waitForFunction(() => document.querySelector('[data-field=rate]').textContent.trim().startsWith('$0.00/h'));

  step('the administrator searches and sorts the organizations, and sorts an organization\'s clusters and members');
  await admin.goto('/admin#organizations');
  await admin.fill('#org-search', 'resea');
  await admin.click('form[action="/admin#organizations"] button[type=submit]');
  await admin.waitForURL((u) => u.searchParams.get('org_search') === 'resea');
  check((await admin.locator('#org-table tbody tr').count()) === 1 && (await admin.locator('#org-table tr[data-org=research]').count()) === 1,
    'a search by a part of the name finds research alone');
  await admin.goto('/orgs/research');
  const nodesHeader = admin.locator('section:has(#clusters) th', { hasText: 'Nodes' });
  await nodesHeader.locator('a').click();
  await admin.waitForURL((u) => u.searchParams.get('sort') === 'nodes');
  check((await admin.locator('section:has(#clusters) th', { hasText: 'Nodes' }).getAttribute('aria-sort')) === 'ascending', 'the sorted column says so');
  const nodesOf = async () => admin.locator('section:has(#clusters) td[data-label=Nodes]').allTextContents().then((all) => all.map(Number));
  const ascending = await nodesOf();
  check(ascending.length >= 2 && ascending.every((n, i) => i === 0 || ascending[i - 1] <= n), `ascending by nodes (${ascending})`);
  await admin.locator('section:has(#clusters) th', { hasText: 'Nodes' }).locator('a').click();
  await admin.waitForURL((u) => u.searchParams.get('sort') === '-nodes');
  const descending = await nodesOf();
  check(descending.every((n, i) => i === 0 || descending[i - 1] >= n), `and the other way (${descending})`);
  await admin.locator('#members-table th', { hasText: 'Role' }).locator('a').click();
  await admin.waitForURL((u) => u.searchParams.get('member_sort') === 'role' && u.searchParams.get('sort') === '-nodes');
  check((await admin.locator('#members-table th', { hasText: 'Role' }).getAttribute('aria-sort')) === 'ascending', 'members sort by role, the clusters\' order kept');
  await shot(admin, 'org-sorted');

  step('the administrator makes a cluster with nothing deployed public, then private again');
  const bobSees = async () => (await bob.goto('/clusters/web-demo')).status();
  check((await bobSees()) === 404, 'a private cluster of research is missing to bob');
  await admin.goto('/clusters/web-demo');
  await admin.locator('#visibility-form button', { hasText: 'Make it public' }).click();
  await flash(admin, 'ok', 'web-demo is public');
  check((await bobSees()) === 200, 'public, bob may see it');
  await admin.locator('#visibility-form button', { hasText: 'Make it private' }).click();
  await flash(admin, 'ok', 'web-demo is private');
  check((await bobSees()) === 404, 'private again, it is missing to bob');
  await admin.goto('/clusters/shared');
  check((await admin.locator('#visibility-form').count()) === 0, 'a deployed cluster keeps what its module was deployed with');

  step('the administrator protects a running cluster: its owner can no longer destroy it, until the protection goes');
  await admin.locator('#protection-form button', { hasText: 'Protect it' }).click();
  await flash(admin, 'ok', 'shared is protected');
  check((await admin.locator('[data-protected]').count()) === 1, 'the page says the cluster is protected');
  check((await admin.locator('#destroy-reason').count()) === 1, 'an administrator may force its destroy, saying why');
  await alice.goto('/clusters/shared');
  check((await alice.locator('#destroy-protected').count()) === 1 && (await alice.locator('#destroy-form [data-confirm-button]').count()) === 0,
    'its owner is told it is protected, with no destroy button');
  await admin.locator('#protection-form button', { hasText: 'Remove the protection' }).click();
  await flash(admin, 'ok', 'no longer protected');

  step('alice opens her profile from her name: her level and her organizations');
  await alice.goto('/');
  await alice.click('header a.login');
  await alice.locator('#profile-login', { hasText: 'alice' }).waitFor();
  check((await text(alice, '#profile-orgs')).includes('research — owner'), 'alice owns research');
  await shot(alice, 'profile');

  step('the administrator opens the runs page from the navigation');
  await admin.click('nav a[href="/runs"]');
  await admin.locator('h1', { hasText: 'Test and release runs' }).waitFor();
  await shot(admin, 'runs');

  step('the administrator searches, filters and pages through 200 more clusters');
  await admin.goto('/clusters');
  await admin.fill('#search', 'bulk-01');
  await admin.click('form[role=search] button[type=submit]');
  await admin.waitForURL((u) => u.searchParams.get('search') === 'bulk-01');
  check((await admin.locator('table tbody tr').count()) === 10, 'a search by a part of the name finds bulk-010 to bulk-019');
  await admin.selectOption('#state', 'running');
  await admin.click('form[role=search] button[type=submit]');
  await admin.locator('p.empty', { hasText: 'No cluster matches' }).waitFor();
  await admin.goto('/');
  check((await text(admin, 'article.card[data-org=default] [data-more-clusters]')) === 'and over 92 more',
    "a card lists its first clusters and says how many more");
  await shot(admin, 'home-admin');
  await admin.goto('/clusters?search=bulk');
  const firstPage = await admin.locator('table tbody tr').count();
  check(firstPage === 100, `a page holds 100 clusters (got ${firstPage})`);
  const firstName = await text(admin, 'table tbody tr td a');
  await admin.click('nav.pages a[rel=next]');
  await admin.locator('nav.pages a[rel=prev]').waitFor();
  check((await text(admin, 'table tbody tr td a')) !== firstName, 'Next shows the next clusters');
  await shot(admin, 'clusters-search');
  await admin.click('nav.pages a[rel=prev]');
  await admin.waitForURL((u) => u.searchParams.has('before'));
  check((await text(admin, 'table tbody tr td a')) === firstName, 'Previous comes back to the first page');

  step('the administrator pauses provisioning: every signed-in page says so until it resumes');
  await admin.goto('/admin#provisioning');
  await admin.fill('#pause-reason', 'storage maintenance');
  await admin.click('form[action="/admin/provisioning/pause"] button');
  await flash(admin, 'ok', 'paused');
  await alice.goto('/clusters/paused-demo');
  check((await text(alice, '[data-paused]')).includes('storage maintenance'), 'a member sees the pause and its reason');
  await alice.click('#deploy-form button[type=submit]');
  await flash(alice, 'ok', 'Deploy queued');
  check((await alice.locator('.live [data-op-state=queued]').count()) === 1, 'while paused, the deploy waits in the queue');
  await admin.click('form[action="/admin/provisioning/resume"] button');
  await flash(admin, 'ok', 'resumed');
  check((await operationEnds(alice)) === 'succeeded', 'once resumed, the deploy runs');
  await alice.goto('/clusters');
  check((await alice.locator('[data-paused]').count()) === 0, 'the pause is gone once resumed');

  // ---------------------------------------------------------------- CSRF
  step('a form posted without the anti-forgery token is refused');
  await alice.goto('/tokens');
  const forged = await alice.evaluate(async () => {
    const body = new URLSearchParams({ name: 'forged', scopes: 'clusters:read' });
    const r = await fetch('/tokens', { method: 'POST', body });
    return [r.status, await r.text()];
  });
  check(forged[0] === 403 && forged[1].includes('anti-forgery'), `a token-less form is refused (${forged[0]})`);
  await open(alice, '#new-token');
  await alice.fill('#token-name', 'forged-too');
  await alice.evaluate(() => document.querySelector('#new-token input[name=csrf]').remove());
  await alice.click('#new-token button[type=submit]');
  await alice.locator('[data-error-code=csrf]').waitFor();

  step('a form posted from another origin is refused, even with a valid token');
  const stolen = await alice.goto('/tokens').then(() => alice.inputValue('input[name=csrf]'));
  const attacker = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><form method="post" action="${cfg.url}/tokens">
      <input name="csrf" value="${stolen}"><input name="name" value="evil"><input name="scopes" value="clusters:read">
      </form><script>document.forms[0].submit()</script>`);
  });
  await new Promise((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  const attackerUrl = `http://127.0.0.1:${attacker.address().port}/`;
  await alice.goto(attackerUrl);
  await alice.waitForURL(`${cfg.url}/tokens`);
  await alice.locator('[data-error-code=csrf]').waitFor();
  check((await text(alice, '.refusal .message')).includes(`sent from http://127.0.0.1:${attacker.address().port}`),
    'the refusal names where the form came from');
  attacker.close();
  await alice.goto('/tokens');
  const listed = await alice.content();
  for (const name of ['forged', 'forged-too', 'evil']) {
    check(!listed.includes(`data-token-name="${name}"`), `no token ${name} was made`);
  }

  // ---------------------------------------------------------------- phone
  step('the main pages at phone width');
  const state = await alice.context().storageState();
  const phone = await persona('alice-phone', PHONE, state);
  for (const [name, link] of [['home', '/'], ['cluster', '/clusters/shared'], ['org', '/orgs/research?costs=hourly']]) {
    await phone.goto(link);
    await phone.locator('main h1').first().waitFor();
    await shot(phone, name);
  }
  // Tables with actions are a card per row: the actions stay in view.
  await phone.goto('/clusters/shared');
  const withdraw = phone.locator('#capacity-requests button', { hasText: 'Withdraw' }).first();
  if (await withdraw.count()) {
    const box = await withdraw.boundingBox();
    check(box && box.x >= 0 && box.x + box.width <= PHONE.width, `Withdraw is in view at phone width (${JSON.stringify(box)})`);
  }
  for (const [name, link] of [['clusters', '/clusters'], ['tokens', '/tokens'], ['profile', '/profile'], ['deployments', '/deployments'], ['blueprints', '/blueprints']]) {
    await phone.goto(link);
    await phone.locator('main h1').first().waitFor();
    await shot(phone, name);
  }
  const adminPhone = await persona('admin-phone', PHONE, await admin.context().storageState());
  await adminPhone.goto('/admin');
  await shot(adminPhone, 'admin');
  await adminPhone.goto('/tokens');
  const revoke = adminPhone.locator('#tokens button', { hasText: 'Revoke' }).first();
  await revoke.waitFor();
  const revokeBox = await revoke.boundingBox();
  check(revokeBox && revokeBox.x >= 0 && revokeBox.x + revokeBox.width <= PHONE.width,
    `Revoke is in view at phone width (${JSON.stringify(revokeBox)})`);
  check((await adminPhone.locator('#tokens td[data-label=Scopes]').first().evaluate((td) => getComputedStyle(td, '::before').content)) === '"Scopes"',
    'a stacked cell is labelled');
  await shot(adminPhone, 'tokens-admin');
  // Every state a person meets, at phone width too: a confirmation, a
  // refusal, a missing page, the runs, an organization's members.
  await adminPhone.locator('#tokens button', { hasText: 'Revoke' }).first().click();
  await adminPhone.locator('[data-confirm-step]').waitFor();
  await shot(adminPhone, 'confirm');
  await adminPhone.click('[data-confirm-cancel]');
  for (const [name, link] of [['runs', '/runs'], ['org-members', '/orgs/research#members'], ['not-found', '/no-such-page']]) {
    await adminPhone.goto(link);
    await adminPhone.locator('main h1').first().waitFor();
    await shot(adminPhone, name);
  }
  const bobPhone = await persona('bob-phone', PHONE, await bob.context().storageState());
  await bobPhone.goto('/orgs/research');
  await bobPhone.locator('h1', { hasText: 'Not allowed' }).waitFor();
  await shot(bobPhone, 'refused');
  await phone.goto('/clusters/secret-demo');
  await phone.fill('#deploy-nodes', '9');
  await phone.evaluate(() => document.getElementById('deploy-form').submit());
  await phone.locator('#deploy-nodes[aria-invalid=true]').waitFor();
  await shot(phone, 'deploy-refused');
  const anonymous = await persona('anonymous-phone', PHONE);
  await anonymous.goto('/sign-in');
  await shot(anonymous, 'sign-in');

  step('alice signs out, and her session token is revoked');
  await alice.click('form[action="/sign-out"] button');
  await flash(alice, 'ok', 'Signed out');
  results.aliceSessionRevoked = session.value;

  step('a revoked session reads as "sign in again", and its cookie goes');
  await phone.goto('/clusters/shared');
  await phone.waitForURL((u) => u.pathname === '/sign-in');
  await flash(phone, 'refused', 'session ended');
  check(!(await phone.context().cookies(cfg.url)).some((c) => c.name === 'token'), 'the dead cookie is removed');

  check(problems.length === 0, `the browser reported problems:\n${problems.join('\n')}`);

  step('no serious or critical accessibility violation in any state visited, light or dark');
  const byImpact = {};
  for (const v of violations) byImpact[v.impact] = (byImpact[v.impact] || 0) + v.targets.length;
  console.log(`axe: ${axeRuns.states} page states checked; violations (elements) by impact: ${JSON.stringify(byImpact)}`);
  const grave = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of violations) {
    console.log(`axe ${v.impact}: ${v.id} (${v.help}) in ${v.state}: ${v.targets.slice(0, 5).join(' | ')}${v.targets.length > 5 ? ` … and ${v.targets.length - 5} more` : ''}`);
  }
  check(grave.length === 0, `${grave.length} serious or critical accessibility violations (listed above)`);
  fs.writeFileSync(cfg.results, JSON.stringify(results));
  console.log('browser: all steps passed');
} catch (e) {
  console.error(e.stack || String(e));
  for (const [name, page] of pages) {
    try {
      await page.screenshot({ path: path.join(cfg.screenshots, `failure-${name}.png`), fullPage: true });
      console.error(`--- ${name} was at ${page.url()}`);
    } catch {
      // the page may be gone
    }
  }
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}
