// The kcerts page's Web Worker: reads the files it is given, runs the wasm core
// on them (so the page never freezes), keeps the resulting Analysis object, and
// answers the page's requests: table pages sorted by a column, one
// certificate's detail, a CSR or a renewal. Every rule is the core's; this file
// only turns the core's view into rows and labels. It is not loaded by URL: the
// build (scripts/build-page.mjs) prepends the wasm-bindgen glue and the module
// as base64, and the page starts it from that text as a blob.
/* global wasm_bindgen, KCERTS_WASM_BASE64 */
'use strict';
(function () {
  const k = wasm_bindgen;
  // Rows of the timeline, warnings and other items sent at most (the table is paged).
  const TIMELINE_ROWS = 400;
  const LIST_LIMIT = 1000;
  let analysis = null; // the wasm Analysis object
  let view = null; // its view (AnalysisView in kcerts_wasm.d.ts)
  let base = []; // the distinct certificate items, in the core's order

  function init() {
    const bin = atob(KCERTS_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    k.initSync({ module: bytes });
  }

  // name, title, sort value of a certificate item.
  const COLUMNS = [
    ['name', 'Name', (i) => name(i)],
    ['subject', 'Subject', (i) => i.certificate.subject],
    ['issuer', 'Issuer', (i) => i.certificate.issuer],
    ['sans', 'SANs', (i) => [...i.certificate.dnsNames, ...i.certificate.ipAddresses].join(', ')],
    ['notBefore', 'Not before', (i) => i.certificate.notBefore],
    ['notAfter', 'Not after', (i) => i.certificate.notAfter],
    ['residual', 'Residual', (i) => i.certificate.residualSeconds],
    ['key', 'Key', (i) => i.certificate.publicKey],
    ['sig', 'Signature', (i) => i.certificate.signatureAlgorithmName],
    ['usages', 'Usages', (i) => [...i.certificate.keyUsage, ...i.certificate.extendedKeyUsage].join(', ')],
    ['ca', 'CA', (i) => (i.certificate.isCa ? 'CA' : 'leaf')],
  ];

  function name(i) {
    const c = i.certificate;
    const node = c.node ? `${c.node}: ` : '';
    return c.role ? node + c.role : i.file + (i.place ? ` (${i.place})` : '');
  }

  function label(item) {
    const c = item.certificate;
    const role = c && c.role ? `${c.node ? `${c.node}: ` : ''}${c.role} — ` : '';
    return `${role}${item.file}${item.place ? ` (${item.place})` : ''}`;
  }

  function row(item, warned) {
    const c = item.certificate;
    const cls = c.residualSeconds < 0 ? 'crit' : warned.get(item.id) === 'warning' ? 'warn' : '';
    return {
      id: item.id, cls,
      cells: COLUMNS.map(([key, , get]) => (key === 'residual' ? c.residual : String(get(item)))),
    };
  }

  let warned = new Map();
  function rows({ sortKey, sortDir, offset, count }) {
    const col = COLUMNS.find(([key]) => key === sortKey) || COLUMNS[5];
    const values = new Map(base.map((i) => [i.id, col[2](i)]));
    const sorted = [...base].sort((x, y) => {
      const vx = values.get(x.id), vy = values.get(y.id);
      return (vx < vy ? -1 : vx > vy ? 1 : 0) * sortDir;
    });
    return { total: sorted.length, rows: sorted.slice(offset, offset + count).map((i) => row(i, warned)) };
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
    const read = await readAll(files, progress);
    if (analysis) analysis.free();
    analysis = k.analyze(read, now, (done, total) => progress('analysing', done, total));
    progress('rendering', 1, 1);
    view = JSON.parse(analysis.viewJson());
    base = view.certificates.map((id) => view.items[id]);
    warned = new Map(view.warnings.map((w) => [w.item, w.severity]));
    const others = view.items.filter((i) => i.kind !== 'certificate');
    const pairs = new Map(view.keyMatches.map((m) => [m.key, m.certificate]));
    return {
      files: files.length,
      certificates: view.items.filter((i) => i.kind === 'certificate').length,
      items: view.items.length,
      now: view.now,
      nodes: view.nodes,
      fleet: view.fleet,
      columns: COLUMNS.map(([key, title]) => [key, title]),
      warnings: view.warnings.slice(0, LIST_LIMIT).map((w) => ({ severity: w.severity, text: `${label(view.items[w.item])}: ${w.message}` })),
      warningCount: view.warnings.length,
      timeline: base.slice(0, TIMELINE_ROWS).map((i) => {
        const c = i.certificate;
        return { label: (c.role ? (c.node ? `${c.node}: ` : '') + c.role : c.commonName || i.file), file: i.file,
          notBefore: c.notBefore, notAfter: c.notAfter, residual: c.residual, isCa: c.isCa, expired: c.residualSeconds < 0 };
      }),
      others: others.slice(0, LIST_LIMIT).map((i) => {
        const o = { kind: i.kind, where: i.file + (i.place ? ` (${i.place})` : '') };
        if (i.kind === 'error') o.error = i.error;
        else if (i.kind === 'privateKey') {
          o.key = i.key;
          if (pairs.has(i.id)) o.matches = label(view.items[pairs.get(i.id)]);
        } else if (i.kind === 'csr') { o.subject = i.csr.subject; o.signatureValid = i.csr.signatureValid; }
        else if (i.kind === 'fileReference') o.reference = i.reference;
        return o;
      }),
      otherCount: others.length,
      page: rows({ sortKey, sortDir, offset: 0, count: page }),
    };
  }

  function detail({ id }) {
    const item = view.items[id];
    const c = item.certificate;
    const d = analysis.detail(id);
    const issuers = view.links.filter((l) => l.child === id).map((l) => label(view.items[l.issuer]));
    const signed = view.links.filter((l) => l.issuer === id).map((l) => label(view.items[l.child]));
    const keys = view.keyMatches.filter((m) => m.certificate === id).map((m) => label(view.items[m.key]));
    return {
      title: c.role ? (c.node ? `${c.node}: ` : '') + c.role : c.commonName || item.file,
      keyAlgorithm: c.keyAlgorithm,
      rows: [
        ['File', label(item)], ['Subject', c.subject], ['Issuer', c.issuer],
        ['Serial', c.serial], ['Not before', c.notBefore], ['Not after', `${c.notAfter} (${c.residual})`],
        ['Public key', c.publicKey], ['Signature', c.signatureAlgorithmName],
        ['SHA-256 fingerprint', d.sha256Fingerprint],
        ['SHA-1 fingerprint', d.sha1Fingerprint],
        ['Signed by', issuers.length ? issuers.join('; ') : 'no uploaded CA verifies its signature'],
        ['Signed', signed.join('; ') || '—'], ['Private key', keys.join('; ') || 'not uploaded'],
        ...d.extensions.map((e) => [`${e.name}${e.critical ? ' (critical)' : ''}`, e.value]),
      ],
    };
  }

  const ops = {
    analyse,
    rows,
    detail,
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
