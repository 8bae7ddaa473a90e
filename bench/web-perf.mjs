// Times the web page on a large upload in headless Chromium: from handing the
// page a bundle of N certificates to the rendered report (the page's own
// measurement of analyse + render, and the wall time seen from outside).
//
//   node bench/web-perf.mjs /path/to/bundle.pem     (after scripts/build-wasm.sh)
import { createServer } from 'node:http';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { join, extname, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const WEB = join(dirname(dirname(fileURLToPath(import.meta.url))), 'web');
const { chromium } = createRequire(join(WEB, 'package.json'))('playwright-core');
const bundle = process.argv[2];
const runs = Number(process.env.RUNS || 5);
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
const server = createServer((req, res) => {
  const p = new URL(req.url, 'http://x').pathname;
  const f = join(WEB, p === '/' ? 'index.html' : p);
  if (!existsSync(f)) { res.writeHead(404); return res.end(); }
  res.writeHead(200, { 'content-type': types[extname(f)] || 'application/octet-stream' });
  res.end(readFileSync(f));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
const inPage = [], wall = [];
for (let i = 0; i < runs; i++) {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForSelector('body[data-ready="true"]');
  const t0 = Date.now();
  await page.setInputFiles('#file-input', bundle);
  await page.waitForFunction(() => document.body.dataset.reportMs !== undefined, null, { timeout: 120000 });
  wall.push(Date.now() - t0);
  inPage.push(Number(await page.evaluate(() => document.body.dataset.reportMs)));
  if (i === 0) console.log(await page.textContent('#status'));
  await page.close();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`bundle ${bundle} (${statSync(bundle).size} bytes), ${runs} runs`);
console.log(`analyse + render in page: median ${median(inPage)} ms (all: ${inPage.join(', ')})`);
console.log(`setInputFiles to rendered: median ${median(wall)} ms (all: ${wall.join(', ')})`);
await browser.close();
server.close();
