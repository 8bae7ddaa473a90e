// Browser tests of the offline page: Debian's headless Chromium driven by
// playwright-core, the page served by a tiny static server of our own on
// 127.0.0.1. Node files come from the real `kcerts generate-pki`; the page's
// tables are compared with the CLI's output on the same files at the same time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, extname, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const WEB = dirname(dirname(fileURLToPath(import.meta.url)));
const REPO = dirname(WEB);
const KCERTS = process.env.KCERTS_BIN || join(REPO, 'target/debug/kcerts');
const ARTIFACTS = join(WEB, 'test-results');
mkdirSync(ARTIFACTS, { recursive: true });

// The node is made at T0; the page and the CLI both look at it 340 days later
// when every leaf expires within 30 days.
const T0 = '2026-01-10T08:00:00Z';
const AT = '2026-12-16T08:00:00Z';
const AT_MS = Date.parse(AT);

let server, baseUrl, browser, work, nodeDir, requests = [];

function kcerts(...args) {
  return execFileSync(KCERTS, args, { encoding: 'utf8' });
}

function serveStatic() {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
  return new Promise((resolve) => {
    const s = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      const file = join(WEB, path === '/' ? 'index.html' : path);
      if (!file.startsWith(WEB) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream' });
      res.end(readFileSync(file));
    });
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

// Clicks `selector` and returns the `count` downloads it starts.
async function downloads(page, selector, count) {
  const got = [];
  const done = new Promise((resolve) => {
    const on = (d) => { got.push(d); if (got.length === count) { page.off('download', on); resolve(got); } };
    page.on('download', on);
  });
  await page.click(selector);
  return Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error(`expected ${count} downloads, got ${got.length}`)), 15000))]);
}

// The page asks its worker for table pages and details: waits until every
// answer is rendered (body[data-busy] is set while a request is out).
async function settled(page) {
  await page.waitForSelector('body:not([data-busy])', { state: 'attached', timeout: 30000 });
}

// After "show more": waits until the table shows `n` rows (the worker's answer
// arrives after click() returns, and showing more does not mark the page busy).
async function rowsShown(page, n) {
  await page.waitForFunction((want) => document.querySelectorAll('#certs tbody tr').length === want, n, { timeout: 30000 });
}

// After a sort request: waits until column `key` shows the order `dir`
// (a key press may reach the button after press() returns).
async function sortedBy(page, key, dir) {
  await page.waitForSelector(`#certs th[aria-sort="${dir}"] button[data-key="${key}"]`, { state: 'attached', timeout: 30000 });
  await settled(page);
}

// The page shows one kubeadm table per node of `names`, in order, each equal to
// `kcerts check-expiration` on that node's folder under `cluster`.
async function nodeTablesAreTheCli(page, cluster, names) {
  assert.equal(await page.textContent('#node-h'), `kubeadm certs check-expiration on ${names.length} nodes`);
  const reports = page.locator('#nodes .node-report');
  assert.deepEqual(await reports.evaluateAll((rs) => rs.map((r) => r.dataset.node)), names);
  for (const n of names) {
    const dir = join(cluster, n);
    const cli = kcerts('check-expiration', '--cert-dir', join(dir, 'pki'), '--kubeconfig-dir', dir, '--at', AT);
    assert.equal(await page.textContent(`#nodes .node-report[data-node="${n}"] pre.kubeadm-text`), cli, n);
  }
}

async function openPage(url = baseUrl, options = {}) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 }, ...options });
  await context.addInitScript(`{ const t = ${AT_MS}; Date.now = () => t; }`);
  const page = await context.newPage();
  page.on('request', (r) => requests.push(r.url()));
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
  return { page, context, errors };
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'kcerts-web-'));
  nodeDir = join(work, 'kubernetes');
  kcerts('generate-pki', '--out', nodeDir, '--node-name', 'cp-1', '--advertise-address', '192.168.10.11',
    '--key-algorithm', 'ECDSA-P256', '--at', T0);
  server = await serveStatic();
  baseUrl = `http://127.0.0.1:${server.address().port}/`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

test('a kubeadm node folder: the same tables as the CLI, warnings, timeline, sortable table', async () => {
  const { page, context, errors } = await openPage();
  await page.setInputFiles('#folder-input', nodeDir);
  await page.waitForSelector('#node:not([hidden])');

  const cliText = kcerts('check-expiration', '--cert-dir', join(nodeDir, 'pki'), '--kubeconfig-dir', nodeDir, '--at', AT);
  const cliJson = kcerts('check-expiration', '--cert-dir', join(nodeDir, 'pki'), '--kubeconfig-dir', nodeDir, '--at', AT, '-o', 'json');
  assert.equal(await page.textContent('#kubeadm-text'), cliText);
  assert.equal(await page.textContent('#kubeadm-json'), cliJson);
  assert.match(cliText, /apiserver\s+Jan 10, 2027 08:00 UTC\s+25d\s+ca\s+no/);

  // 3 CAs, 7 leaves, 5 kubeconfig client certificates (kubelet.conf too), each once.
  const rows = await page.locator('#certs tbody tr').count();
  assert.equal(rows, 15);
  const apiserverRow = page.locator('#certs tbody tr', { hasText: 'kubernetes.default.svc.cluster.local' });
  assert.equal(await apiserverRow.count(), 1);
  assert.match(await apiserverRow.textContent(), /apiserver.*CN=kube-apiserver.*CN=kubernetes.*192\.168\.10\.11.*ECDSA P-256.*serverAuth.*leaf/);

  // Warnings: every leaf expires within 30 days at AT.
  const warnings = await page.locator('#warnings li').allTextContents();
  assert.ok(warnings.some((w) => /apiserver — kubernetes\/pki\/apiserver\.crt: expires in 25d/.test(w)), warnings.join('\n'));
  assert.equal(warnings.filter((w) => w.includes('expires in')).length, 12, warnings.join('\n'));

  // Timeline: one bar per certificate and a now line.
  assert.equal(await page.locator('#timeline svg rect.bar').count(), 15);
  assert.equal(await page.locator('#timeline #now-line').count(), 1);

  // Sorting by subject, both directions, with the keyboard.
  await page.focus('#certs th button[data-key="subject"]');
  await page.keyboard.press('Enter');
  await sortedBy(page, 'subject', 'ascending');
  const asc = await page.locator('#certs tbody tr td:nth-child(2)').allTextContents();
  assert.deepEqual(asc, [...asc].sort());
  await page.keyboard.press('Enter');
  await sortedBy(page, 'subject', 'descending');
  const desc = await page.locator('#certs tbody tr td:nth-child(2)').allTextContents();
  assert.deepEqual(desc, [...asc].reverse());

  await page.screenshot({ path: join(ARTIFACTS, 'node.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('detail view, CSR download accepted by openssl, renewal with the uploaded CA key', async () => {
  const { page, context } = await openPage();
  await page.setInputFiles('#folder-input', nodeDir);
  const row = page.locator('#certs tbody tr', { hasText: 'kubernetes.default.svc.cluster.local' });
  await row.focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('#detail:not([hidden])');
  const detail = await page.textContent('#detail-body');
  assert.match(detail, /subjectAltName/);
  assert.match(detail, /SHA-256 fingerprint[0-9A-F:]{95}/);
  // The rows `kcerts inspect` prints for it, with its wording.
  assert.match(detail, /kubeadm roleapiserver/);
  assert.match(detail, /Chainsigned by kubernetes\/pki\/ca\.crt \(signature verified\)/);
  assert.match(detail, /Private keykubernetes\/pki\/apiserver\.key/);
  assert.match(detail, /Not afterJan 10, 2027 08:00 UTC \(25d left\)/);

  await page.selectOption('#algorithm', 'ECDSA-P256');
  const files = {};
  for (const d of await downloads(page, '#make-csr', 2)) {
    const path = join(work, d.suggestedFilename());
    await d.saveAs(path);
    files[d.suggestedFilename()] = path;
  }
  assert.deepEqual(Object.keys(files).sort(), ['apiserver.csr', 'apiserver.key']);
  const verify = execFileSync('openssl', ['req', '-verify', '-noout', '-text', '-in', files['apiserver.csr']], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(verify, /Subject: CN ?= ?kube-apiserver/);
  assert.match(verify, /DNS:kubernetes\.default\.svc\.cluster\.local/);
  assert.match(verify, /IP Address:10\.96\.0\.1/);
  const csrPub = execFileSync('openssl', ['req', '-pubkey', '-noout', '-in', files['apiserver.csr']], { encoding: 'utf8' });
  const keyPub = execFileSync('openssl', ['pkey', '-pubout', '-in', files['apiserver.key']], { encoding: 'utf8' });
  assert.equal(csrPub, keyPub);

  const renewed = {};
  for (const d of await downloads(page, '#renew', 2)) {
    const path = join(work, 'renewed-' + d.suggestedFilename());
    await d.saveAs(path);
    renewed[d.suggestedFilename()] = path;
  }
  // The page's clock is AT (in the future): verify at that time.
  const ok = execFileSync('openssl', ['verify', '-attime', String(AT_MS / 1000 + 60), '-CAfile', join(nodeDir, 'pki/ca.crt'),
    '-purpose', 'sslserver', renewed['apiserver.crt']], { encoding: 'utf8' });
  const certPub = execFileSync('openssl', ['x509', '-pubkey', '-noout', '-in', renewed['apiserver.crt']], { encoding: 'utf8' });
  assert.equal(certPub, execFileSync('openssl', ['pkey', '-pubout', '-in', renewed['apiserver.key']], { encoding: 'utf8' }));
  assert.match(ok, /: OK/);
  await page.screenshot({ path: join(ARTIFACTS, 'detail.png'), fullPage: true });
  await context.close();
});

test('a lone kubeconfig: its certificates, key pair and chain, and no node tables', async () => {
  const lone = join(work, 'lone');
  mkdirSync(lone, { recursive: true });
  copyFileSync(join(nodeDir, 'admin.conf'), join(lone, 'config'));
  const { page, context } = await openPage();
  await page.setInputFiles('#file-input', join(lone, 'config'));
  await page.waitForSelector('#certs-section:not([hidden])');
  assert.equal(await page.isHidden('#node'), true);
  assert.equal(await page.locator('#certs tbody tr').count(), 2);
  const other = await page.locator('#other li').allTextContents();
  assert.ok(other.some((t) => /user kubernetes-admin client-key.*private key, ECDSA P-256 — matches config \(user kubernetes-admin client-certificate\)/.test(t)), other.join('\n'));
  await page.screenshot({ path: join(ARTIFACTS, 'kubeconfig.png'), fullPage: true });
  await context.close();
});

test('hostile files become errors and the page stays responsive', async () => {
  const bad = join(work, 'bad');
  mkdirSync(bad, { recursive: true });
  writeFileSync(join(bad, 'truncated.crt'), readFileSync(join(nodeDir, 'pki/ca.crt')).subarray(0, 300));
  writeFileSync(join(bad, 'junk.der'), Buffer.from([0x30, 0x82, 0xff, 0xff, 0x00]));
  writeFileSync(join(bad, 'bomb.yaml'), 'a: &a [x,x,x,x,x,x,x,x,x]\n' + Array.from({ length: 12 }, (_, i) => `b${i}: &b${i} [${Array(9).fill(i ? `*b${i - 1}` : '*a').join(',')}]`).join('\n') + '\n');
  writeFileSync(join(bad, 'binary.bin'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
  copyFileSync(join(nodeDir, 'pki/front-proxy-client.crt'), join(bad, 'good.crt'));
  const { page, context, errors } = await openPage();
  await page.setInputFiles('#file-input', ['truncated.crt', 'junk.der', 'bomb.yaml', 'binary.bin', 'good.crt'].map((f) => join(bad, f)));
  await page.waitForSelector('#other-section:not([hidden])');
  const items = await page.locator('#other li[data-kind="error"]').allTextContents();
  assert.equal(items.length, 4, items.join('\n'));
  assert.ok(items.some((t) => t.startsWith('bomb.yaml') && /not PEM, DER or a kubeconfig/.test(t)), items.join('\n'));
  assert.equal(await page.locator('#certs tbody tr').count(), 1);
  // Still responsive: a click opens the detail view.
  await page.click('#certs tbody tr');
  await page.waitForSelector('#detail:not([hidden])', { timeout: 5000 });
  await page.screenshot({ path: join(ARTIFACTS, 'hostile.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a 1,201-certificate bundle: the whole table sorted, shown 500 rows at a time', async () => {
  // tests/src/bin/make-bundle: distinct certificates with validities of 1 to 700 days.
  const bundle = join(work, 'bundle.pem');
  writeFileSync(bundle, execFileSync(join(dirname(KCERTS), 'make-bundle'), ['1201'], { maxBuffer: 1 << 26 }));
  const { page, context, errors } = await openPage();
  await page.setInputFiles('#file-input', bundle);
  await page.waitForSelector('#certs-section:not([hidden])');
  // The rows after the first 40 are added a slice per frame.
  await rowsShown(page, 500);
  assert.equal(await page.textContent('#certs-shown'), 'Showing 500 of 1201 certificates (sorted as a whole).');
  await page.click('#show-more');
  await rowsShown(page, 1000);
  assert.equal(await page.locator('#certs tbody tr').count(), 1000);
  await page.click('#show-more');
  await rowsShown(page, 1201);
  assert.equal(await page.locator('#certs tbody tr').count(), 1201);
  assert.equal(await page.isHidden('#show-more'), true);
  // Default order: soonest expiry first, across all pages.
  const notAfter = await page.locator('#certs tbody tr td:nth-child(6)').allTextContents();
  assert.deepEqual(notAfter, [...notAfter].sort());
  // Sorting starts again at the first page, from the whole set.
  await page.click('#certs th button[data-key="notAfter"]');
  await sortedBy(page, 'notAfter', 'descending');
  await rowsShown(page, 500);
  const desc = await page.locator('#certs tbody tr td:nth-child(6)').allTextContents();
  assert.deepEqual(desc, [...notAfter].reverse().slice(0, 500));
  // The detail pane fetches a row's extensions on demand (row 1 is the CA).
  await page.click('#certs tbody tr:nth-child(2)');
  await page.waitForSelector('#detail:not([hidden])');
  assert.match(await page.textContent('#detail-body'), /subjectAltName.*DNS:leaf-/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('readable on a phone in dark mode', async () => {
  const { page, context, errors } = await openPage(baseUrl, { viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true });
  await page.setInputFiles('#folder-input', nodeDir);
  await page.waitForSelector('#node:not([hidden])');
  // The page itself never scrolls sideways; wide tables scroll inside their own box.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(13, 17, 23)', 'dark colour scheme');
  await page.screenshot({ path: join(ARTIFACTS, 'phone-dark.png'), fullPage: false });
  assert.deepEqual(errors, []);
  await context.close();
});

test('works from file:// too', async () => {
  const { page, context, errors } = await openPage(pathToFileURL(join(WEB, 'index.html')).href);
  await page.setInputFiles('#file-input', join(nodeDir, 'pki/ca.crt'));
  await page.waitForSelector('#certs-section:not([hidden])');
  assert.equal(await page.locator('#certs tbody tr').count(), 1);
  assert.deepEqual(errors, []);
  await context.close();
});

test('the one-file page works alone from an empty directory (file://)', async () => {
  const dist = join(WEB, 'dist/kcerts.html');
  const alone = mkdtempSync(join(tmpdir(), 'kcerts-alone-'));
  copyFileSync(dist, join(alone, 'kcerts.html'));
  assert.deepEqual(readdirSync(alone), ['kcerts.html']);
  const html = readFileSync(join(alone, 'kcerts.html'), 'utf8');
  // Everything inline: no src/href to a file, and a CSP with hashes, no 'self'.
  assert.doesNotMatch(html, /<script src=|<link rel="stylesheet"/);
  const csp = html.match(/Content-Security-Policy" content="([^"]+)"/)[1];
  assert.match(csp, /connect-src 'none'/);
  assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+' 'sha256-[A-Za-z0-9+/=]+' 'wasm-unsafe-eval'/);
  assert.match(csp, /style-src 'sha256-/);
  assert.doesNotMatch(csp, /'self'|'unsafe-inline'/);
  const fileRequests = [];
  const url = pathToFileURL(join(alone, 'kcerts.html')).href;
  const { page, context, errors } = await openPage(url);
  page.on('request', (r) => fileRequests.push(r.url()));
  await page.setInputFiles('#folder-input', nodeDir);
  await page.waitForSelector('#node:not([hidden])');
  const cliText = kcerts('check-expiration', '--cert-dir', join(nodeDir, 'pki'), '--kubeconfig-dir', nodeDir, '--at', AT);
  assert.equal(await page.textContent('#kubeadm-text'), cliText);
  assert.equal(await page.locator('#certs tbody tr').count(), 15);
  // Styles applied (inline style allowed by its hash).
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('#dropzone')).borderStyle), 'dashed');
  assert.deepEqual(fileRequests.filter((u) => !u.startsWith('blob:')), []);
  await page.screenshot({ path: join(ARTIFACTS, 'one-file.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('an RSA node: a new key defaults to RSA-2048, ticks are readable, the table fits 1400 px and breaks no word', async () => {
  const rsaDir = join(work, 'rsa-node');
  kcerts('generate-pki', '--out', rsaDir, '--node-name', 'cp-rsa', '--advertise-address', '192.168.10.21',
    '--key-algorithm', 'RSA-2048', '--at', T0);
  const { page, context, errors } = await openPage(baseUrl, { viewport: { width: 1400, height: 900 } });
  await page.setInputFiles('#folder-input', rsaDir);
  await page.waitForSelector('#certs-section:not([hidden])');

  // The certificate table: the window's width, no sideways scrolling at 1400 px,
  // the usages column in view, and no word broken across two lines: a line may
  // end at a space or after a hyphen or slash (kube-|apiserver), never inside a
  // word ("CN=kubernetes", "sha256WithRSAEncryption" stay whole).
  const fit = await page.evaluate(() => {
    const wrap = document.querySelector('.table-wrap');
    const usages = document.querySelector('#certs th.col-usages').getBoundingClientRect();
    const broken = [];
    for (const td of document.querySelectorAll('#certs td')) {
      const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        for (const m of n.textContent.matchAll(/[^\s\/-]+[\/-]?/g)) {
          const range = document.createRange();
          range.setStart(n, m.index);
          range.setEnd(n, m.index + m[0].length);
          if (new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1) broken.push(m[0]);
        }
      }
    }
    return { over: wrap.scrollWidth - wrap.clientWidth, right: usages.right, width: window.innerWidth, shown: usages.width,
      table: document.querySelector('#certs').getBoundingClientRect().width, broken };
  });
  assert.ok(fit.over <= 0, `the table is ${fit.over}px wider than its box`);
  assert.ok(fit.right <= fit.width && fit.shown > 40, JSON.stringify(fit));
  assert.ok(fit.table > 1300, `the table is ${fit.table}px wide in a 1400 px window`);
  assert.deepEqual(fit.broken, [], 'words broken across lines');
  assert.match(await page.locator('#certs tbody tr', { hasText: 'kubernetes.default.svc' }).textContent(), /sha256WithRSAEncryption/);
  assert.match(await page.locator('#certs tbody tr', { hasText: 'kubernetes.default.svc' }).textContent(), /serverAuth/);

  // Timeline: several tick labels, none overlapping another or the now label.
  const boxes = await page.evaluate(() => [...document.querySelectorAll('#timeline text.tick, #timeline text.now-label')]
    .map((t) => { const b = t.getBoundingClientRect(); return { text: t.textContent, left: b.left, right: b.right, top: b.top, bottom: b.bottom }; }));
  const tickCount = boxes.filter((b) => b.text !== 'now').length;
  assert.ok(tickCount >= 3, JSON.stringify(boxes));
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      const overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      assert.ok(!overlap, `labels overlap: ${JSON.stringify(a)} ${JSON.stringify(b)}`);
    }
  }
  await page.screenshot({ path: join(ARTIFACTS, 'rsa-node.png'), fullPage: true });

  // The detail's key algorithm is the certificate's own; the CSR has an RSA 2048 key.
  await page.click('#certs tbody tr:has-text("kubernetes.default.svc")');
  await page.waitForSelector('#detail:not([hidden])');
  assert.equal(await page.inputValue('#algorithm'), 'RSA-2048');
  const files = {};
  for (const d of await downloads(page, '#make-csr', 2)) {
    const path = join(work, 'rsa-' + d.suggestedFilename());
    await d.saveAs(path);
    files[d.suggestedFilename()] = path;
  }
  const text = execFileSync('openssl', ['req', '-verify', '-noout', '-text', '-in', files['apiserver.csr']], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(text, /Public-Key: \(2048 bit\)/);
  assert.match(await page.textContent('#action-status'), /\(RSA-2048\)/);
  await page.screenshot({ path: join(ARTIFACTS, 'rsa-detail.png'), fullPage: false });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a folder of three nodes: one kubeadm table per node, node names in the table', async () => {
  const cluster = join(work, 'cluster');
  const names = ['cp-1', 'cp-2', 'cp-3'];
  names.forEach((n, i) => kcerts('generate-pki', '--out', join(cluster, n), '--node-name', n,
    '--advertise-address', `192.168.10.${31 + i}`, '--key-algorithm', 'ECDSA-P256', '--at', T0));
  const { page, context, errors } = await openPage();
  await page.setInputFiles('#folder-input', cluster);
  await page.waitForSelector('#node:not([hidden])');
  await nodeTablesAreTheCli(page, cluster, names);
  // 15 distinct certificates per node (each node has its own CAs here).
  assert.equal(await page.locator('#certs tbody tr').count(), 45);
  assert.deepEqual(await page.locator('#certs tbody td.col-name', { hasText: /^cp-2: apiserver$/ }).allTextContents(), ['cp-2: apiserver']);
  await page.screenshot({ path: join(ARTIFACTS, 'three-nodes.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('three joined nodes with a planted CA: the fleet checks find it', async () => {
  // make-cluster: cp-1..cp-3 sharing their CAs and sa keys, as kubeadm join leaves them.
  const cluster = join(work, 'joined');
  execFileSync(join(dirname(KCERTS), 'make-cluster'), [cluster, '3', T0]);
  const { page, context, errors } = await openPage();
  await page.setInputFiles('#folder-input', cluster);
  await page.waitForSelector('#fleet:not([hidden])');
  assert.match(await page.textContent('#fleet-summary'), /^0 failed, \d+ warning\(s\), \d+ passed\.$/);
  assert.match(await page.textContent('#fleet-text'), /cp-3/);
  await context.close();

  // The planted inconsistency: cp-3 carries another cluster's ca.crt.
  copyFileSync(join(nodeDir, 'pki/ca.crt'), join(cluster, 'cp-3/pki/ca.crt'));
  const second = await openPage();
  await second.page.setInputFiles('#folder-input', cluster);
  await second.page.waitForSelector('#fleet:not([hidden])');
  const summary = await second.page.textContent('#fleet-summary');
  assert.match(summary, /^[1-9]\d* failed/, summary);
  const problems = await second.page.locator('#fleet-problems li').allTextContents();
  assert.ok(problems.some((p) => /^fail: ca same-cert: .*cp-3/.test(p)), problems.join('\n'));
  assert.equal(await second.page.locator('#nodes .node-report').count(), 3);
  await second.page.screenshot({ path: join(ARTIFACTS, 'fleet-planted.png'), fullPage: true });
  assert.deepEqual([...errors, ...second.errors], []);
  await second.context.close();
});

test('three node archives (.tgz, .tar, one top folder) with a planted CA: tables and fleet checks as for folders', async () => {
  // make-cluster's joined nodes, cp-3 given another cluster's CA, packed
  // with the real tar as the README says (`tar czf cp-1.tgz -C /etc/kubernetes .`).
  const cluster = join(work, 'packed');
  execFileSync(join(dirname(KCERTS), 'make-cluster'), [cluster, '3', T0]);
  // (with its key, so that check-expiration reads cp-3 on its own).
  for (const f of ['pki/ca.crt', 'pki/ca.key']) copyFileSync(join(nodeDir, f), join(cluster, 'cp-3', f));
  const archives = join(work, 'archives');
  mkdirSync(archives, { recursive: true });
  const cp1 = join(archives, 'cp-1.tgz'), cp2 = join(archives, 'cp-2.tar'), cp3 = join(archives, 'cp-3.tgz');
  execFileSync('tar', ['czf', cp1, '-C', join(cluster, 'cp-1'), '.']);
  execFileSync('tar', ['cf', cp2, '-C', join(cluster, 'cp-2'), '.']);
  execFileSync('tar', ['czf', cp3, '-C', cluster, 'cp-3']); // entries cp-3/pki/ca.crt...
  assert.match(execFileSync('tar', ['tzf', cp3], { encoding: 'utf8' }), /^cp-3\/pki\/ca\.crt$/m);

  const { page, context, errors } = await openPage();
  await page.setInputFiles('#file-input', [cp1, cp2, cp3]);
  await page.waitForSelector('#fleet:not([hidden])');
  const names = ['cp-1', 'cp-2', 'cp-3'];
  await nodeTablesAreTheCli(page, cluster, names);
  const summary = await page.textContent('#fleet-summary');
  assert.match(summary, /^[1-9]\d* failed/, summary);
  const problems = await page.locator('#fleet-problems li').allTextContents();
  assert.ok(problems.some((p) => /^fail: ca same-cert: .*cp-3/.test(p)), problems.join('\n'));
  // The CLI reads the same archives (the same core tar reader) to the same verdict.
  const fleet = spawnSync(KCERTS, ['fleet', cp1, cp2, cp3, '--at', AT], { encoding: 'utf8' });
  assert.notEqual(fleet.status, 0, fleet.stdout + fleet.stderr);
  assert.match(fleet.stdout, /fail\s+ca\s+same-cert\s.*cp-3/, fleet.stdout + fleet.stderr);
  await page.screenshot({ path: join(ARTIFACTS, 'fleet-archives.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a refused archive (a `..` entry, an absolute path): an error item naming it and the entry, the other nodes analysed', async () => {
  const cluster = join(work, 'refused');
  execFileSync(join(dirname(KCERTS), 'make-cluster'), [cluster, '2', T0]);
  const dir = join(work, 'refused-archives');
  mkdirSync(dir, { recursive: true });
  const cp1 = join(dir, 'cp-1.tgz'), cp2 = join(dir, 'cp-2.tar');
  execFileSync('tar', ['czf', cp1, '-C', join(cluster, 'cp-1'), '.']);
  execFileSync('tar', ['cf', cp2, '-C', join(cluster, 'cp-2'), '.']);
  // Python's tarfile stores the names as given (GNU tar would strip them):
  // a CA certificate, then an entry that leaves the archive.
  const escape = join(dir, 'cp-3.tgz'), absolute = join(dir, 'cp-4.tar');
  execFileSync('python3', ['-c', `
import io, sys, tarfile
ca = open(sys.argv[3], 'rb').read()
for path, mode, bad in [(sys.argv[1], 'w:gz', '../escape'), (sys.argv[2], 'w', '/etc/kubernetes/pki/abs.key')]:
    with tarfile.open(path, mode, format=tarfile.USTAR_FORMAT) as t:
        for name, data in [('pki/ca.crt', ca), (bad, b'x')]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
`, escape, absolute, join(cluster, 'cp-1/pki/ca.crt')]);
  assert.match(execFileSync('tar', ['tzf', escape], { encoding: 'utf8' }), /^\.\.\/escape$/m);

  const { page, context, errors } = await openPage();
  await page.setInputFiles('#file-input', [cp1, cp2, escape, absolute]);
  await page.waitForSelector('#fleet:not([hidden])');
  await nodeTablesAreTheCli(page, cluster, ['cp-1', 'cp-2']);
  const items = await page.locator('#other li[data-kind="error"]').allTextContents();
  for (const [archive, entry] of [[escape, '../escape'], [absolute, '/etc/kubernetes/pki/abs.key']]) {
    // The CLI refuses the same archive with the core's message, after its path.
    const cli = spawnSync(KCERTS, ['fleet', cp1, archive, '--at', AT], { encoding: 'utf8' });
    assert.notEqual(cli.status, 0, cli.stdout + cli.stderr);
    const message = cli.stderr.split(`${archive}: `)[1]?.trimEnd();
    assert.ok(message && message.includes(`entry ${JSON.stringify(entry)}`), cli.stderr);
    const name = archive.split('/').pop();
    assert.ok(items.includes(`${name} (file): error: ${message}`), `${name}: ${message}\n${items.join('\n')}`);
  }
  assert.equal(items.length, 2, items.join('\n'));
  assert.match(await page.textContent('#fleet-summary'), /^0 failed, \d+ warning\(s\), \d+ passed\.$/);
  await page.screenshot({ path: join(ARTIFACTS, 'refused-archive.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('100,000 certificates: analysed in the worker with progress while the page keeps painting', async () => {
  // 50 files of the same 2,000 certificates: 100,000 to parse, fingerprint and
  // link (making 100,000 distinct ones takes minutes in a debug build).
  const dir = join(work, 'many');
  mkdirSync(dir, { recursive: true });
  const bundle = execFileSync(join(dirname(KCERTS), 'make-bundle'), ['2000'], { maxBuffer: 1 << 28 });
  const parts = Array.from({ length: 50 }, (_, i) => join(dir, `part-${String(i).padStart(2, '0')}.pem`));
  for (const p of parts) writeFileSync(p, bundle);
  const { page, context, errors } = await openPage();
  // Count frames: a requestAnimationFrame loop on the main thread, and the progress seen.
  await page.evaluate(() => {
    window.frames_ = [];
    window.progress_ = new Set();
    const tick = (t) => { window.frames_.push(t); requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    new MutationObserver(() => { if (document.body.dataset.progress) window.progress_.add(document.body.dataset.progress); })
      .observe(document.body, { attributes: true, attributeFilter: ['data-progress'] });
  });
  const t0 = await page.evaluate(() => performance.now());
  await page.setInputFiles('#file-input', parts);
  await page.waitForFunction(() => document.body.dataset.reportMs !== undefined, null, { timeout: 240000 });
  const { frames, progress, t1 } = await page.evaluate(() => ({ frames: window.frames_, progress: [...window.progress_], t1: performance.now() }));
  const during = frames.filter((t) => t >= t0 && t <= t1);
  const gaps = during.slice(1).map((t, i) => t - during[i]);
  const longest = Math.max(...gaps);
  const seconds = (t1 - t0) / 1000;
  console.log(`# 100,000 certificates: ${seconds.toFixed(1)} s, ${during.length} frames, longest gap ${Math.round(longest)} ms`);
  // The main thread painted through the analysis: frames all along, no long freeze.
  assert.ok(during.length >= seconds * 10, `${during.length} frames in ${seconds} s`);
  assert.ok(longest < 1000, `the main thread froze for ${longest} ms`);
  assert.ok(progress.some((p) => /^analysing ([1-9]|[1-9]\d)$/.test(p)), progress.join(', '));
  assert.equal(await page.textContent('#certs-shown'), 'Showing 500 of 2000 certificates (sorted as a whole).');
  assert.match(await page.textContent('#status'), /^50 file\(s\): 100000 certificate\(s\)/);
  await page.screenshot({ path: join(ARTIFACTS, 'bundle-100k.png'), fullPage: false });
  assert.deepEqual(errors, []);
  await context.close();
});

test('no network request other than the page\'s own assets', () => {
  assert.ok(requests.length > 0);
  const foreign = requests.filter((u) => !u.startsWith(baseUrl) && !u.startsWith('file://') && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert.deepEqual(foreign, []);
  const html = readFileSync(join(WEB, 'index.html'), 'utf8');
  assert.match(html, /connect-src 'none'/);
});
