// The kcerts page's Web Worker: reads the files it is given, runs the wasm core
// on them (so the page never freezes), keeps the resulting Analysis object, and
// answers the page's requests: table pages sorted by a column, one
// certificate's detail, a CSR or a renewal. Every rule, row and label is the
// wasm crate's (wasm/src/page.rs); this file reads files. It is not loaded by URL: the
// build (scripts/build-page.mjs) prepends the wasm-bindgen glue and the module
// as base64, and the page starts it from that text as a blob.
/* global wasm_bindgen, KCERTS_WASM_BASE64 */
'use strict';
(function () {
  const k = wasm_bindgen;
  let analysis = null; // the wasm Analysis object

  function init() {
    const bin = atob(KCERTS_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    k.initSync({ module: bytes });
  }

  // A node archive (cp-1.tgz) gunzipped by the browser (the core reads the
  // tar inside), refused once it grows past `limit` bytes (a gzip bomb).
  async function gunzip(bytes, limit) {
    const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
    const parts = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        reader.cancel();
        throw new Error(`decompresses to more than kcerts' limit of ${limit} bytes`);
      }
      parts.push(value);
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  async function readAll(list, progress) {
    const total = list.reduce((n, f) => n + f.file.size, 0);
    let done = 0;
    const out = [];
    for (const { file, name: fileName } of list) {
      if (k.fileTooLarge(file.size)) {
        out.push({ name: fileName, size: file.size });
      } else {
        const bytes = new Uint8Array(await file.arrayBuffer());
        const limit = k.archiveLimit(fileName);
        if (limit !== undefined && bytes[0] === 0x1f && bytes[1] === 0x8b) {
          try {
            out.push({ name: fileName, bytes: await gunzip(bytes, limit) });
          } catch (e) {
            out.push({ name: fileName, size: file.size, error: `cannot be decompressed: ${e && e.message || e}` });
          }
        } else {
          out.push({ name: fileName, bytes });
        }
      }
      done += file.size;
      progress('reading', done, total);
    }
    return out;
  }

  async function analyse({ files, now, sortKey, sortDir, page }) {
    let last = 0;
    const progress = (phase, done, total) => {
      const t = performance.now();
      if (t - last < 50 && done < total) return;
      last = t;
      postMessage({ progress: { phase, done, total } });
    };
    const t0 = performance.now();
    const read = await readAll(files, progress);
    const t1 = performance.now();
    if (analysis) analysis.free();
    analysis = k.analyze(read, now, (done, total) => progress('analysing', done, total));
    const t2 = performance.now();
    progress('rendering', 1, 1);
    // The core builds what the page shows: table rows (one page of them),
    // timeline, lists and labels (Report in kcerts_wasm.d.ts).
    const result = analysis.report(sortKey, sortDir, page);
    result.files = files.length;
    // Where the time went, for bench/web-perf.mjs (the page shows none of it).
    result.timings = { read: t1 - t0, analyse: t2 - t1, report: performance.now() - t2 };
    return result;
  }

  const ops = {
    analyse,
    rows: ({ sortKey, sortDir, offset, count }) => analysis.rows(sortKey, sortDir, offset, count),
    detail: ({ id }) => analysis.detailRows(id),
    makeCsr: ({ id, algorithm }) => analysis.makeCsr(id, algorithm),
    renew: ({ id, algorithm, now }) => analysis.renew(id, algorithm, now),
  };

  try {
    init();
    postMessage({ ready: { version: k.version(), keyAlgorithms: k.keyAlgorithms() } });
  } catch (e) {
    postMessage({ failed: String(e && e.message || e) });
  }
  self.onmessage = async ({ data }) => {
    try {
      postMessage({ req: data.req, result: await ops[data.op](data.args) });
    } catch (e) {
      postMessage({ req: data.req, error: String(e && e.message || e) });
    }
  };
})();
