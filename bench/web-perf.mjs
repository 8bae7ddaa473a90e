// Times the one-file page (web/dist/kcerts.html, opened from file://) in
// headless Chromium on large uploads, and reports the module's size. For each
// bundle: from handing the page the files to the rendered report (the page's
// own measurement and the wall time seen from outside), and the longest pause
// of the main thread's frames meanwhile (and for a second after, so the
// layout of the rendered report counts), with the phases the page reports
// (read, analyse and report in the worker, render on the main thread).
// Figures are printed, never asserted.
//
//   bash scripts/build-wasm.sh
//   cargo build --release -p kcerts-tests --bin make-bundle
//   target/release/make-bundle 10000 > /tmp/b10k.pem; target/release/make-bundle 100000 > /tmp/b100k.pem
//   node bench/web-perf.mjs /tmp/b10k.pem /tmp/b100k.pem      (RUNS=5 by default)
//
// A bundle over 32 MiB is split at certificate boundaries into several files
// (the page reads files of up to 64 MiB; 100,000 certificates are 104 MB).
import { readFileSync, writeFileSync, statSync, mkdtempSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const WEB = join(dirname(dirname(fileURLToPath(import.meta.url))), 'web');
const { chromium } = createRequire(join(WEB, 'package.json'))('playwright-core');
const runs = Number(process.env.RUNS || 5);
const PART = 32 * 1024 * 1024;

const wasm = readFileSync(join(WEB, 'pkg/kcerts_wasm_bg.wasm'));
const page1 = readFileSync(join(WEB, 'dist/kcerts.html'));
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`module: ${wasm.length} bytes (${kib(wasm.length)}), ${gzipSync(wasm, { level: 9 }).length} bytes gzip (${kib(gzipSync(wasm, { level: 9 }).length)}); target under 450 KiB gzip`);
console.log(`dist/kcerts.html: ${page1.length} bytes, ${gzipSync(page1, { level: 9 }).length} bytes gzip`);

function parts(bundle) {
  if (statSync(bundle).size <= PART) return [bundle];
  const text = readFileSync(bundle, 'latin1');
  const dir = mkdtempSync(join(tmpdir(), 'kcerts-web-perf-'));
  const out = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + PART);
    if (end < text.length) end = text.lastIndexOf('-----END CERTIFICATE-----\n', end) + 26;
    const p = join(dir, `part-${out.length}.pem`);
    writeFileSync(p, text.slice(start, end), 'latin1');
    out.push(p);
    start = end;
  }
  return out;
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const bundle of process.argv.slice(2)) {
  const files = parts(bundle);
  const inPage = [], wall = [], gaps = [], phases = [];
  let status = '';
  for (let i = 0; i < runs; i++) {
    const page = await browser.newPage();
    await page.goto(pathToFileURL(join(WEB, 'dist/kcerts.html')).href);
    await page.waitForSelector('body[data-ready="true"]');
    await page.evaluate(() => {
      window.frames_ = [];
      const tick = (t) => { window.frames_.push(t); requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    });
    const t0 = Date.now();
    const p0 = await page.evaluate(() => performance.now());
    await page.setInputFiles('#file-input', files);
    await page.waitForFunction(() => document.body.dataset.reportMs !== undefined, null, { timeout: 300000 });
    wall.push(Date.now() - t0);
    // The layout and paint of what was rendered come after the page's own
    // measurement: keep counting frames for a second so their pause counts.
    await page.waitForTimeout(1000);
    const r = await page.evaluate(() => ({ ms: Number(document.body.dataset.reportMs), phases: JSON.parse(document.body.dataset.phases || '{}'), frames: window.frames_, status: document.querySelector('#status').textContent }));
    const during = r.frames.filter((t) => t >= p0);
    gaps.push(Math.round(Math.max(...during.slice(1).map((t, n) => t - during[n]))));
    inPage.push(r.ms);
    phases.push(r.phases);
    status = r.status;
    await page.close();
  }
  console.log(`\n${bundle} (${statSync(bundle).size} bytes, ${files.length} file(s)), ${runs} runs: ${status}`);
  console.log(`  read + analyse (worker) + render, in page: median ${median(inPage)} ms (all: ${inPage.join(', ')})`);
  const names = Object.keys(phases[0]);
  console.log(`  of which (medians, ms): ${names.map((n) => `${n} ${median(phases.map((p) => p[n]))}`).join(', ')}`);
  console.log(`  setInputFiles to rendered: median ${median(wall)} ms (all: ${wall.join(', ')})`);
  console.log(`  longest main-thread frame gap: median ${median(gaps)} ms (all: ${gaps.join(', ')})`);
}
await browser.close();
