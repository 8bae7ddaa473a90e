// The kcerts page: reads dropped or picked files, hands their bytes to the wasm
// core (the same rules as the CLI), and renders the result. No network access:
// the wasm module is inlined as base64 (kcerts_wasm_inline.js), the CSP forbids
// connections, and downloads are the user's own blob links.
'use strict';
(function () {
  const $ = (sel) => document.querySelector(sel);
  const MAX_FILE_BYTES = 64 * 1024 * 1024;
  const state = { analysis: null, sortKey: 'notAfter', sortDir: 1, selected: null, shown: 0 };
  // Rows the table adds at a time: every certificate is sorted and counted, but a
  // 10,000-certificate upload renders its first page at once and more on request.
  const PAGE = 500;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) {
      if (c != null) e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function status(text) { $('#status').textContent = text; }

  // --- loading the module ---------------------------------------------------
  function initWasm() {
    const b64 = window.KCERTS_WASM_BASE64;
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    wasm_bindgen.initSync({ module: bytes });
    $('#version').textContent = wasm_bindgen.version();
  }

  // --- reading files ------------------------------------------------------
  async function readFile(file, name) {
    if (file.size > MAX_FILE_BYTES) {
      return { name, bytes: new Uint8Array(0), tooLarge: file.size };
    }
    return { name, bytes: new Uint8Array(await file.arrayBuffer()) };
  }

  function entryFiles(entry, prefix) {
    return new Promise((resolve) => {
      if (entry.isFile) {
        entry.file((f) => resolve([{ file: f, name: prefix + entry.name }]), () => resolve([]));
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        const all = [];
        const next = () => reader.readEntries(async (entries) => {
          if (!entries.length) {
            const nested = await Promise.all(all.map((e) => entryFiles(e, prefix + entry.name + '/')));
            resolve(nested.flat());
          } else { all.push(...entries); next(); }
        }, () => resolve([]));
        next();
      } else resolve([]);
    });
  }

  async function handle(list) {
    status(`Reading ${list.length} file(s)…`);
    const files = await Promise.all(list.map(({ file, name }) => readFile(file, name)));
    const tooLarge = files.filter((f) => f.tooLarge);
    const t0 = performance.now();
    let analysis;
    try {
      analysis = wasm_bindgen.analyze(files.filter((f) => !f.tooLarge), Date.now());
    } catch (e) {
      status(`Error: ${e.message || e}`);
      return;
    }
    for (const f of tooLarge) {
      analysis.items.push({ id: analysis.items.length, file: f.name, place: 'file', kind: 'error',
        error: `${f.tooLarge} bytes is over the page's ${MAX_FILE_BYTES} byte limit` });
    }
    state.analysis = analysis;
    render();
    const ms = Math.round(performance.now() - t0);
    const nCerts = analysis.items.filter((i) => i.kind === 'certificate').length;
    status(`${files.length} file(s): ${nCerts} certificate(s), ${analysis.items.length} item(s) in ${ms} ms.`);
    document.body.dataset.reportMs = String(ms);
  }

  // --- rendering ----------------------------------------------------------
  function render() {
    const a = state.analysis;
    renderNode(a.node);
    renderWarnings(a);
    renderTimeline(a);
    renderTable(a);
    renderOther(a);
    $('#detail').hidden = true;
  }

  function renderNode(node) {
    $('#node').hidden = !node;
    if (!node) return;
    $('#node-root').textContent = node.root || './';
    $('#kubeadm-text').textContent = node.text;
    $('#kubeadm-json').textContent = node.json;
  }

  function itemLabel(item) {
    const c = item.certificate;
    const role = c && c.role ? `${c.role} — ` : '';
    return `${role}${item.file}${item.place ? ` (${item.place})` : ''}`;
  }

  function renderWarnings(a) {
    const ul = $('#warnings');
    ul.replaceChildren(...a.warnings.map((w) => el('li', { class: w.severity === 'critical' ? 'crit' : 'warn' },
      el('strong', {}, w.severity === 'critical' ? 'critical: ' : 'warning: '),
      `${itemLabel(a.items[w.item])}: ${w.message}`)));
    $('#warnings-section').hidden = a.warnings.length === 0;
  }

  function certItems(a) {
    // One row per distinct certificate (kubeconfigs repeat ca.crt).
    // Prefer a file of its own over a copy embedded in a kubeconfig.
    const seen = new Set();
    const ordered = [...a.items].sort((x, y) =>
      (x.place.includes('certificate-authority') - y.place.includes('certificate-authority')) || x.id - y.id);
    return ordered.filter((i) => {
      if (!i.certificate) return false;
      const fp = i.certificate.sha256Fingerprint;
      if (seen.has(fp)) return false;
      seen.add(fp);
      return true;
    });
  }

  function renderTimeline(a) {
    const certs = certItems(a);
    $('#timeline-section').hidden = certs.length === 0;
    if (!certs.length) return;
    const shown = certs.slice(0, 400);
    const t = (s) => Date.parse(s);
    const now = Date.parse(a.now);
    const min = Math.min(now, ...shown.map((i) => t(i.certificate.notBefore)));
    const max = Math.max(now, ...shown.map((i) => t(i.certificate.notAfter)));
    const W = 1000, label = 260, rowH = 18, H = shown.length * rowH + 30;
    const x = (ms) => label + ((ms - min) / (max - min || 1)) * (W - label - 10);
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `Validity of ${shown.length} certificates, with a line at now`);
    const add = (tag, attrs, text) => {
      const e = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text != null) e.textContent = text;
      svg.append(e);
      return e;
    };
    shown.forEach((item, n) => {
      const c = item.certificate;
      const y = 10 + n * rowH;
      add('text', { x: 0, y: y + 12 }, (c.role || c.commonName || item.file).slice(0, 38));
      const x0 = x(t(c.notBefore)), x1 = x(t(c.notAfter));
      const bar = add('rect', { class: `bar${c.isCa ? ' ca' : ''}${c.residualSeconds < 0 ? ' expired' : ''}`,
        x: x0, y: y + 2, width: Math.max(2, x1 - x0), height: rowH - 6, rx: 3 });
      bar.append(Object.assign(document.createElementNS(NS, 'title'), { textContent: `${item.file}: ${c.notBefore} → ${c.notAfter} (${c.residual})` }));
    });
    add('line', { class: 'axis', x1: label, y1: H - 18, x2: W - 10, y2: H - 18 });
    add('text', { x: label, y: H - 4 }, new Date(min).toISOString().slice(0, 10));
    add('text', { x: W - 80, y: H - 4 }, new Date(max).toISOString().slice(0, 10));
    add('line', { class: 'now', id: 'now-line', x1: x(now), y1: 0, x2: x(now), y2: H - 18 });
    add('text', { x: x(now) + 4, y: H - 4 }, 'now');
    $('#timeline').replaceChildren(svg);
  }

  const COLUMNS = [
    ['name', 'Name', (i) => i.certificate.role || i.file + (i.place ? ` (${i.place})` : '')],
    ['subject', 'Subject', (i) => i.certificate.subject],
    ['issuer', 'Issuer', (i) => i.certificate.issuer],
    ['sans', 'SANs', (i) => [...i.certificate.dnsNames, ...i.certificate.ipAddresses].join(', ')],
    ['notBefore', 'Not before', (i) => i.certificate.notBefore],
    ['notAfter', 'Not after', (i) => i.certificate.notAfter],
    ['residual', 'Residual', (i) => i.certificate.residualSeconds],
    ['key', 'Key', (i) => i.certificate.publicKey],
    ['sig', 'Signature', (i) => sigName(i.certificate.signatureAlgorithm)],
    ['usages', 'Usages', (i) => [...i.certificate.keyUsage, ...i.certificate.extendedKeyUsage.map(ekuName)].join(', ')],
    ['ca', 'CA', (i) => (i.certificate.isCa ? 'CA' : 'leaf')],
  ];

  function ekuName(e) { return typeof e === 'string' ? e : e.other || JSON.stringify(e); }
  function sigName(oid) {
    return ({ '1.2.840.113549.1.1.11': 'sha256WithRSA', '1.2.840.113549.1.1.12': 'sha384WithRSA',
      '1.2.840.113549.1.1.13': 'sha512WithRSA', '1.2.840.113549.1.1.5': 'sha1WithRSA',
      '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256', '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
      '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512', '1.3.101.112': 'Ed25519' })[oid] || oid;
  }

  function renderTable(a) {
    const rows = certItems(a);
    $('#certs-section').hidden = rows.length === 0;
    const head = $('#certs thead tr');
    head.replaceChildren(...COLUMNS.map(([key, title]) => {
      const sorted = state.sortKey === key;
      return el('th', { scope: 'col', 'aria-sort': sorted ? (state.sortDir > 0 ? 'ascending' : 'descending') : 'none' },
        el('button', { type: 'button', 'data-key': key, onclick: () => sortBy(key) },
          title + (sorted ? (state.sortDir > 0 ? ' ▲' : ' ▼') : '')));
    }));
    const col = COLUMNS.find(([k]) => k === state.sortKey) || COLUMNS[5];
    rows.sort((x, y) => {
      const vx = col[2](x), vy = col[2](y);
      return (vx < vy ? -1 : vx > vy ? 1 : 0) * state.sortDir;
    });
    state.rows = rows;
    state.warned = new Map(a.warnings.map((w) => [w.item, w.severity]));
    state.shown = 0;
    $('#certs tbody').replaceChildren();
    showMore();
  }

  // Appends the next PAGE rows of the sorted table.
  function showMore() {
    const { rows, warned } = state;
    const frag = document.createDocumentFragment();
    for (const item of rows.slice(state.shown, state.shown + PAGE)) {
      const c = item.certificate;
      const cls = c.residualSeconds < 0 ? 'crit' : warned.get(item.id) === 'warning' ? 'warn' : '';
      const tr = el('tr', { tabindex: '0', 'data-id': String(item.id),
        onclick: () => showDetail(item.id), onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); showDetail(item.id); } } },
        COLUMNS.map(([key, , get]) => {
          let v = get(item);
          if (key === 'residual') v = c.residual;
          return el('td', { class: `${key === 'sans' ? 'sans ' : ''}${key === 'residual' ? cls : ''}` }, v);
        }));
      frag.append(tr);
    }
    $('#certs tbody').append(frag);
    state.shown = Math.min(rows.length, state.shown + PAGE);
    $('#certs-more').hidden = rows.length <= PAGE;
    $('#certs-shown').textContent = `Showing ${state.shown} of ${rows.length} certificates (sorted as a whole).`;
    $('#show-more').hidden = state.shown >= rows.length;
  }

  function sortBy(key) {
    state.sortDir = state.sortKey === key ? -state.sortDir : 1;
    state.sortKey = key;
    renderTable(state.analysis);
    const btn = document.querySelector(`#certs th button[data-key="${key}"]`);
    if (btn) btn.focus();
  }

  function renderOther(a) {
    const others = a.items.filter((i) => i.kind !== 'certificate');
    $('#other-section').hidden = others.length === 0;
    const pairs = new Map(a.keyMatches.map((m) => [m.key, m.certificate]));
    $('#other').replaceChildren(...others.map((i) => {
      let text;
      if (i.kind === 'error') text = el('span', { class: 'crit' }, `error: ${i.error}`);
      else if (i.kind === 'privateKey') {
        const match = pairs.get(i.id);
        text = `private key, ${i.key}` + (match != null ? ` — matches ${itemLabel(a.items[match])}` : ' — no uploaded certificate matches it');
      } else if (i.kind === 'publicKey') text = 'public key';
      else if (i.kind === 'csr') text = `certificate request for ${i.csr.subject}${i.csr.signatureValid ? '' : ' (bad signature!)'}`;
      else if (i.kind === 'fileReference') text = `refers to the file ${i.reference} (not embedded; upload it separately)`;
      return el('li', { 'data-kind': i.kind }, el('code', {}, i.file + (i.place ? ` (${i.place})` : '')), ': ', text);
    }));
  }

  function showDetail(id) {
    const a = state.analysis;
    const item = a.items[id];
    const c = item.certificate;
    const d = wasm_bindgen.certificateDetail(id); // extensions etc., fetched per certificate
    state.selected = id;
    document.querySelectorAll('#certs tbody tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.id === String(id)));
    const issuers = a.links.filter((l) => l.child === id).map((l) => itemLabel(a.items[l.issuer]));
    const signed = a.links.filter((l) => l.issuer === id).map((l) => itemLabel(a.items[l.child]));
    const keys = a.keyMatches.filter((m) => m.certificate === id).map((m) => itemLabel(a.items[m.key]));
    const rows = [
      ['File', itemLabel(item)], ['Subject', c.subject], ['Issuer', c.issuer],
      ['Serial', c.serial], ['Not before', c.notBefore], ['Not after', `${c.notAfter} (${c.residual})`],
      ['Public key', c.publicKey], ['Signature', sigName(c.signatureAlgorithm)],
      ['SHA-256 fingerprint', c.sha256Fingerprint.match(/../g).join(':').toUpperCase()],
      ['SHA-1 fingerprint', d.sha1Fingerprint.match(/../g).join(':').toUpperCase()],
      ['Signed by', issuers.length ? issuers.join('; ') : 'no uploaded CA verifies its signature'],
      ['Signed', signed.join('; ') || '—'], ['Private key', keys.join('; ') || 'not uploaded'],
      ...d.extensions.map((e) => [`${e.name}${e.critical ? ' (critical)' : ''}`, e.value]),
    ];
    $('#detail-h').textContent = `Certificate: ${c.role || c.commonName || item.file}`;
    $('#detail-body').replaceChildren(el('dl', {}, rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])));
    $('#action-status').textContent = '';
    $('#detail').hidden = false;
    $('#detail').focus();
  }

  function download(name, text) {
    const url = URL.createObjectURL(new Blob([text], { type: 'application/x-pem-file' }));
    const link = el('a', { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function action(fn) {
    return () => {
      if (state.selected == null) return;
      try { fn(state.selected, $('#algorithm').value); }
      catch (e) { $('#action-status').textContent = `Error: ${e.message || e}`; }
    };
  }

  // --- wiring ----------------------------------------------------------------
  function wire() {
    $('#file-input').addEventListener('change', (e) => {
      handle([...e.target.files].map((f) => ({ file: f, name: f.name })));
    });
    $('#folder-input').addEventListener('change', (e) => {
      handle([...e.target.files].map((f) => ({ file: f, name: f.webkitRelativePath || f.name })));
    });
    const dz = $('#dropzone');
    dz.addEventListener('dragover', (e) => { e.preventDefault(); dz.classList.add('over'); });
    dz.addEventListener('dragleave', () => dz.classList.remove('over'));
    dz.addEventListener('drop', async (e) => {
      e.preventDefault();
      dz.classList.remove('over');
      const entries = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
      const list = entries.length
        ? (await Promise.all(entries.map((en) => entryFiles(en, '')))).flat()
        : [...e.dataTransfer.files].map((f) => ({ file: f, name: f.name }));
      handle(list);
    });
    dz.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('#file-input').click(); } });
    $('#show-more').addEventListener('click', showMore);
    $('#make-csr').addEventListener('click', action((id, alg) => {
      const r = wasm_bindgen.makeCsr(id, alg);
      download(`${r.name}.csr`, r.csrPem);
      download(`${r.name}.key`, r.keyPem);
      $('#action-status').textContent = `Downloaded ${r.name}.csr and ${r.name}.key (${alg}).`;
    }));
    $('#renew').addEventListener('click', action((id, alg) => {
      const r = wasm_bindgen.renewItem(id, alg, 8760, Date.now());
      download(`${r.name}.crt`, r.certPem);
      download(`${r.name}.key`, r.keyPem);
      $('#action-status').textContent = `Downloaded ${r.name}.crt and ${r.name}.key, valid for 8760h (${alg}).`;
    }));
  }

  try {
    initWasm();
    wire();
    status('Ready. Nothing has been uploaded anywhere: files are read in this tab only.');
    document.body.dataset.ready = 'true';
  } catch (e) {
    status(`The page could not start its WebAssembly module: ${e.message || e}`);
  }
  window.kcertsHandleFiles = handle; // used by the performance benchmark
})();
