// Builds the page's two deliverables from web/pkg (wasm-bindgen's output):
//  - web/pkg/kcerts_worker_source.js: the worker's source text (wasm-bindgen
//    glue + the module as base64 + web/worker.js) as a string, for index.html;
//  - web/dist/kcerts.html: one self-contained file (styles, scripts and the
//    worker source inlined) whose CSP allows exactly those inline parts by
//    their SHA-256 hashes and still forbids every connection.
// Run by scripts/build-wasm.sh.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

const web = new URL('../web/', import.meta.url);
const read = (path) => readFileSync(new URL(path, web), 'utf8');

const glue = read('pkg/kcerts_wasm.js');
const wasm = readFileSync(new URL('pkg/kcerts_wasm_bg.wasm', web));
const workerSource = `${glue}\nself.KCERTS_WASM_BASE64 = "${wasm.toString('base64')}";\n${read('worker.js')}`;
// A JS string literal that cannot end the <script> element holding it.
const workerScript = `self.KCERTS_WORKER_SOURCE = ${JSON.stringify(workerSource).replace(/<\//g, '<\\/')};\n`;
writeFileSync(new URL('pkg/kcerts_worker_source.js', web), workerScript);

const sha = (text) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
const scriptHashes = [];
const styleHashes = [];
function inline(tag, text) {
  if (text.includes(`</${tag}`)) throw new Error(`an inlined ${tag} must not contain </${tag}`);
  (tag === 'script' ? scriptHashes : styleHashes).push(sha(text));
  return `<${tag}>${text}</${tag}>`;
}

let html = read('index.html');
const sources = { 'pkg/kcerts_worker_source.js': workerScript };
html = html.replace(/<link rel="stylesheet" href="([^"]+)">/g, (_, href) => inline('style', read(href)));
html = html.replace(/<script src="([^"]+)"><\/script>/g, (_, src) => inline('script', sources[src] ?? read(src)));
if (/<script src=|<link rel="stylesheet"/.test(html)) throw new Error('a script or stylesheet was left as a link');
const csp = /(<meta http-equiv="Content-Security-Policy" content=")([^"]+)(")/;
if (!csp.test(html)) throw new Error('index.html has no CSP');
html = html.replace(csp, (_, a, policy, b) => {
  const p = policy
    .replace("script-src 'self'", `script-src ${scriptHashes.join(' ')}`)
    .replace("style-src 'self'", `style-src ${styleHashes.join(' ')}`)
    .replace("img-src 'self' ", 'img-src ');
  if (p.includes("'self'") || !p.includes("connect-src 'none'")) throw new Error(`unexpected CSP: ${p}`);
  return a + p + b;
});
mkdirSync(new URL('dist/', web), { recursive: true });
writeFileSync(new URL('dist/kcerts.html', web), html);
const size = (b) => `${b.length} bytes, ${gzipSync(b, { level: 9 }).length} bytes gzip`;
console.log(`web/dist/kcerts.html: ${size(Buffer.from(html))} (module ${size(wasm)})`);
