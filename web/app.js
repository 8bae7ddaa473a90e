// The kcerts page: hands dropped or picked files to a Web Worker that runs the
// wasm core (the same rules as the CLI), shows its progress, and renders what
// it answers. No network access: the worker is started from inlined source
// text, the CSP forbids connections, and downloads are the user's own blob links.
/* global KCERTS_WORKER_SOURCE */
'use strict';
(function () {
  const $ = (sel) => document.querySelector(sel);
  // Rows the table adds at a time: every certificate is sorted and counted (in
  // the worker), but a large upload renders its first page at once and more on request.
  const PAGE = 500;
  const state = { sortKey: 'notAfter', sortDir: 1, selected: null, shown: 0, total: 0, columns: [] };
  let worker = null;
  let nextId = 1;
  const pending = new Map();

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

  // --- the worker -------------------------------------------------------------
  function startWorker() {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(new Blob([KCERTS_WORKER_SOURCE], { type: 'text/javascript' }));
      worker = new Worker(url);
      worker.onerror = (e) => reject(new Error(e.message || 'the worker could not start'));
      worker.onmessage = ({ data }) => {
        if (data.ready) { URL.revokeObjectURL(url); resolve(data.ready); return; }
        if (data.failed) { reject(new Error(data.failed)); return; }
        if (data.progress) { showProgress(data.progress); return; }
        const p = pending.get(data.req);
        if (!p) return;
        pending.delete(data.req);
        if ('error' in data) p.reject(new Error(data.error)); else p.resolve(data.result);
      };
    });
  }

  function ask(op, args) {
    return new Promise((resolve, reject) => {
      const req = nextId++;
      pending.set(req, { resolve, reject });
      worker.postMessage({ req, op, args });
    });
  }

  const PHASES = { reading: 'Reading files', analysing: 'Analysing', rendering: 'Preparing the report' };
  function showProgress({ phase, done, total }) {
    const bar = $('#progress');
    bar.hidden = false;
    bar.max = total || 1;
    bar.value = done;
    const pct = total ? Math.floor((100 * done) / total) : 100;
    $('#progress-text').textContent = `${PHASES[phase] || phase}… ${pct}%`;
    document.body.dataset.progress = `${phase} ${pct}`;
  }

  // --- reading files ------------------------------------------------------------
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
    delete document.body.dataset.reportMs;
    const t0 = performance.now();
    document.body.dataset.busy = 'true';
    let r;
    try {
      r = await ask('analyse', { files: list, now: Date.now(), sortKey: state.sortKey, sortDir: state.sortDir, page: PAGE });
    } catch (e) {
      status(`Error: ${e.message || e}`);
      return;
    } finally {
      $('#progress').hidden = true;
      $('#progress-text').textContent = '';
      delete document.body.dataset.busy;
    }
    const t1 = performance.now();
    render(r);
    const ms = Math.round(performance.now() - t0);
    // The worker's phases and this thread's rendering, for bench/web-perf.mjs.
    const phases = { ...r.timings, render: performance.now() - t1 };
    document.body.dataset.phases = JSON.stringify(Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v)])));
    status(`${r.files} file(s): ${r.certificates} certificate(s), ${r.items} item(s) in ${ms} ms.`);
    document.body.dataset.reportMs = String(ms);
  }

  // --- rendering ----------------------------------------------------------------
  function render(r) {
    reportGen++;
    renderNodes(r.nodes);
    renderFleet(r.fleet);
    state.columns = r.columns;
    state.selected = null;
    renderHead();
    renderRows(r.page, true);
    renderWarnings(r);
    renderOther(r);
    const gen = reportGen;
    if (r.timeline.length <= FIRST) renderTimeline(r);
    else later(() => { if (gen === reportGen) renderTimeline(r); });
    $('#detail').hidden = true;
  }

  // A list of `items` made by `make`, then a `… and N more` line (`tail`).
  function renderList(ul, items, make, tail) {
    const gen = reportGen;
    ul.replaceChildren();
    fill(ul, items, make, FIRST, () => gen === reportGen, () => { if (tail) ul.append(tail); });
  }

  function renderNodes(nodes) {
    $('#node').hidden = nodes.length === 0;
    $('#node-h').textContent = nodes.length > 1
      ? `kubeadm certs check-expiration on ${nodes.length} nodes` : 'kubeadm certs check-expiration';
    $('#nodes').replaceChildren(...nodes.map((n, i) => {
      const one = nodes.length === 1;
      const text = el('pre', { class: 'kubeadm-text', tabindex: '0' }, n.text);
      const json = el('pre', { class: 'kubeadm-json', tabindex: '0' }, n.json);
      const root = el('code', { class: 'node-root' }, n.root || './');
      if (one) { text.id = 'kubeadm-text'; json.id = 'kubeadm-json'; root.id = 'node-root'; }
      return el('div', { class: 'node-report', 'data-node': n.name },
        one ? null : el('h3', {}, `Node ${n.name}`),
        el('p', { class: 'note' }, 'The files form a kubeadm node (', root,
          '): the same tables ', el('code', {}, 'kcerts check-expiration'), ' and ',
          el('code', {}, 'kubeadm certs check-expiration'), ' print.'),
        text,
        el('details', {}, el('summary', {}, 'JSON (', el('code', {}, '-o json'), ')'), json),
        i < nodes.length - 1 ? el('hr') : null);
    }));
  }

  // kcerts fleet's cross-node checks, for a drop of several nodes.
  function renderFleet(f) {
    $('#fleet').hidden = !f;
    if (!f) return;
    if (f.error) {
      $('#fleet-summary').textContent = `The nodes could not be checked together: ${f.error}`;
      $('#fleet-problems').replaceChildren();
      $('#fleet-text').textContent = '';
      return;
    }
    $('#fleet-summary').textContent = `${f.fail} failed, ${f.warn} warning(s), ${f.pass} passed.`;
    $('#fleet-problems').replaceChildren(...f.problems.map((p) => el('li', { class: p.status === 'fail' ? 'crit' : 'warn' },
      el('strong', {}, `${p.status}: `), `${p.target} ${p.check}: ${p.reason}`)));
    $('#fleet-text').textContent = f.text;
  }

  function more(shown, total, what) {
    return total > shown ? el('li', { class: 'more' }, `… and ${total - shown} more ${what} (the first ${shown} are shown).`) : null;
  }

  function renderWarnings(r) {
    renderList($('#warnings'), r.warnings, (w) => el('li', { class: w.severity === 'critical' ? 'crit' : 'warn' },
      el('strong', {}, w.severity === 'critical' ? 'critical: ' : 'warning: '), w.text),
    more(r.warnings.length, r.warningCount, 'warnings'));
    $('#warnings-section').hidden = r.warningCount === 0;
  }

  // Axis ticks at whole months or years, as many as fit without overlapping.
  const TICK_STEPS = [1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200]; // months
  function ticks(min, max, width) {
    const months = (max - min) / (30.44 * 86400e3);
    const fit = Math.max(2, Math.floor(width / 90));
    const step = TICK_STEPS.find((s) => months / s <= fit) || TICK_STEPS[TICK_STEPS.length - 1];
    const d = new Date(min);
    let m = d.getUTCFullYear() * 12 + d.getUTCMonth() + 1;
    m = Math.ceil(m / step) * step;
    const out = [];
    for (;; m += step) {
      const t = Date.UTC(Math.floor(m / 12), m % 12, 1);
      if (t > max) break;
      const iso = new Date(t).toISOString();
      out.push([t, step % 12 === 0 ? iso.slice(0, 4) : iso.slice(0, 7)]);
    }
    return out;
  }

  function renderTimeline(r) {
    const shown = r.timeline;
    $('#timeline-section').hidden = shown.length === 0;
    if (!shown.length) return;
    const t = (s) => Date.parse(s);
    const now = Date.parse(r.now);
    const min = Math.min(now, ...shown.map((c) => t(c.notBefore)));
    const max = Math.max(now, ...shown.map((c) => t(c.notAfter)));
    const W = 1000, label = 260, rowH = 18, top = 16, H = top + shown.length * rowH + 30;
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
    const axisY = H - 22;
    // Labels are centred on their tick: leave out one that would cross the edge.
    for (const [ms, text] of ticks(min, max, W - label - 10).filter(([ms]) => x(ms) < W - 24)) {
      add('line', { class: 'grid', x1: x(ms), y1: top, x2: x(ms), y2: axisY + 4 });
      add('text', { class: 'tick', x: x(ms), y: H - 6, 'text-anchor': 'middle' }, text);
    }
    shown.forEach((c, n) => {
      const y = top + n * rowH;
      add('text', { x: 0, y: y + 12 }, c.label.slice(0, 38));
      const x0 = x(t(c.notBefore)), x1 = x(t(c.notAfter));
      const bar = add('rect', { class: `bar${c.isCa ? ' ca' : ''}${c.expired ? ' expired' : ''}`,
        x: x0, y: y + 2, width: Math.max(2, x1 - x0), height: rowH - 6, rx: 3 });
      bar.append(Object.assign(document.createElementNS(NS, 'title'), { textContent: `${c.file}: ${c.notBefore} → ${c.notAfter} (${c.residual})` }));
    });
    add('line', { class: 'axis', x1: label, y1: axisY, x2: W - 10, y2: axisY });
    add('line', { class: 'now', id: 'now-line', x1: x(now), y1: top - 4, x2: x(now), y2: axisY });
    add('text', { class: 'now-label', x: x(now), y: top - 6, 'text-anchor': 'middle' }, 'now');
    $('#timeline').replaceChildren(svg);
  }

  function renderHead() {
    const head = $('#certs thead tr');
    head.replaceChildren(...state.columns.map(([key, title]) => {
      const sorted = state.sortKey === key;
      return el('th', { scope: 'col', class: `col-${key}`, 'aria-sort': sorted ? (state.sortDir > 0 ? 'ascending' : 'descending') : 'none' },
        el('button', { type: 'button', 'data-key': key, onclick: () => sortBy(key) },
          title + (sorted ? (state.sortDir > 0 ? ' ▲' : ' ▼') : '')));
    }));
  }

  // A large report is not laid out in one go (hundreds of table rows, list
  // items and timeline bars froze the page for most of a second): what shows
  // first (up to FIRST rows of the table and of each list, a small timeline) is
  // rendered at once, the table's columns are then fixed at the widths those
  // rows gave them, and the rest follows one task a frame: SLICE more rows or
  // list items, or a large timeline. bench/web-perf.mjs measures the pauses.
  const FIRST = 25, SLICE = 25;
  const tasks = [];
  let pumping = false;
  // Bumped by each new report, and by each new first page of the table: the
  // tasks of an older one are dropped.
  let reportGen = 0, rowsGen = 0;

  function pump() {
    const task = tasks.shift();
    if (!task) { pumping = false; return; }
    task();
    requestAnimationFrame(pump);
  }

  function later(task) {
    tasks.push(task);
    if (!pumping) { pumping = true; requestAnimationFrame(pump); }
  }

  // Appends `items` to `parent`, each made by `make`: the first `now` at once,
  // the others SLICE a frame while `current()` holds; `done` after the last.
  function fill(parent, items, make, now, current, done) {
    parent.append(...items.slice(0, now).map(make));
    for (let at = now; at < items.length; at += SLICE) {
      const slice = items.slice(at, at + SLICE);
      later(() => { if (current()) parent.append(...slice.map(make)); });
    }
    if (done) later(() => { if (current()) done(); });
  }

  // Fixes each column at the width the rows shown gave it, or (`false`) lets the
  // table lay itself out from its content again.
  function fixWidths(fixed) {
    const table = $('#certs');
    const ths = [...table.querySelectorAll('thead th')];
    if (!fixed) {
      table.classList.remove('fixed');
      for (const th of ths) th.style.width = '';
      return;
    }
    const widths = ths.map((th) => th.getBoundingClientRect().width);
    ths.forEach((th, n) => { th.style.width = `${widths[n]}px`; });
    table.classList.add('fixed');
  }

  function rowElement(r) {
    return el('tr', { tabindex: '0', 'data-id': String(r.id),
      onclick: () => showDetail(r.id), onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); showDetail(r.id); } } },
    r.cells.map((v, n) => {
      const key = state.columns[n][0];
      return el('td', { class: `col-${key}${key === 'residual' && r.cls ? ` ${r.cls}` : ''}` }, v);
    }));
  }

  // Shows a page of rows: the first page replaces the table, later ones append.
  function renderRows(page, first) {
    const body = $('#certs tbody');
    if (first) {
      rowsGen++;
      fixWidths(false);
      $('#certs-section').hidden = page.total === 0;
      body.replaceChildren();
      state.shown = 0;
    }
    const gen = rowsGen;
    fill(body, page.rows, rowElement, first ? FIRST : 0, () => gen === rowsGen);
    if (first && page.rows.length > FIRST) fixWidths(true);
    state.total = page.total;
    state.shown = Math.min(page.total, state.shown + page.rows.length);
    $('#certs-more').hidden = page.total <= PAGE;
    $('#certs-shown').textContent = `Showing ${state.shown} of ${page.total} certificates (sorted as a whole).`;
    $('#show-more').hidden = state.shown >= page.total;
  }

  async function showMore() {
    renderRows(await ask('rows', { sortKey: state.sortKey, sortDir: state.sortDir, offset: state.shown, count: PAGE }), false);
  }

  async function sortBy(key) {
    state.sortDir = state.sortKey === key ? -state.sortDir : 1;
    state.sortKey = key;
    const page = await ask('rows', { sortKey: state.sortKey, sortDir: state.sortDir, offset: 0, count: PAGE });
    renderHead();
    renderRows(page, true);
    const btn = document.querySelector(`#certs th button[data-key="${key}"]`);
    if (btn) btn.focus();
  }

  function renderOther(r) {
    $('#other-section').hidden = r.otherCount === 0;
    renderList($('#other'), r.others, (o) => {
      let text;
      if (o.kind === 'error') text = el('span', { class: 'crit' }, `error: ${o.error}`);
      else if (o.kind === 'privateKey') text = `private key, ${o.key}` + (o.matches ? ` — matches ${o.matches}` : ' — no uploaded certificate matches it');
      else if (o.kind === 'publicKey') text = 'public key';
      else if (o.kind === 'csr') text = `certificate request for ${o.subject}${o.signatureValid ? '' : ' (bad signature!)'}`;
      else if (o.kind === 'fileReference') text = `refers to the file ${o.reference} (not embedded; upload it separately)`;
      return el('li', { 'data-kind': o.kind }, el('code', {}, o.where), ': ', text);
    }, more(r.others.length, r.otherCount, 'items'));
  }

  async function showDetail(id) {
    let d;
    try { d = await ask('detail', { id }); } catch (e) { status(`Error: ${e.message || e}`); return; }
    state.selected = id;
    document.querySelectorAll('#certs tbody tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.id === String(id)));
    $('#detail-h').textContent = `Certificate: ${d.title}`;
    $('#detail-body').replaceChildren(el('dl', {}, d.rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])));
    // A new key keeps the certificate's algorithm unless the user picks another.
    $('#algorithm').value = d.keyAlgorithm;
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

  function action(op, done) {
    return async () => {
      if (state.selected == null) return;
      try {
        done(await ask(op, { id: state.selected, algorithm: $('#algorithm').value, now: Date.now() }));
      } catch (e) { $('#action-status').textContent = `Error: ${e.message || e}`; }
    };
  }

  // --- wiring ---------------------------------------------------------------------
  function wire(ready) {
    $('#version').textContent = ready.version;
    $('#algorithm').replaceChildren(...ready.keyAlgorithms.map((a) => el('option', {}, a)));
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
    // Widths fixed for one window do not suit another: lay the table out again.
    window.addEventListener('resize', () => fixWidths(false));
    $('#make-csr').addEventListener('click', action('makeCsr', (r) => {
      download(`${r.name}.csr`, r.csrPem);
      download(`${r.name}.key`, r.keyPem);
      $('#action-status').textContent = `Downloaded ${r.name}.csr and ${r.name}.key (${r.keyAlgorithm}).`;
    }));
    $('#renew').addEventListener('click', action('renew', (r) => {
      download(`${r.name}.crt`, r.certPem);
      download(`${r.name}.key`, r.keyPem);
      $('#action-status').textContent = `Downloaded ${r.name}.crt and ${r.name}.key, valid for ${r.validityHours}h (${r.keyAlgorithm}).`;
    }));
  }

  startWorker().then((ready) => {
    wire(ready);
    status('Ready. Nothing has been uploaded anywhere: files are read in this tab only.');
    document.body.dataset.ready = 'true';
  }, (e) => {
    status(`The page could not start its WebAssembly worker: ${e.message || e}`);
  });
  window.kcertsHandleFiles = handle; // used by the performance benchmark
})();
