// Loads the built web/pkg module in Node and calls it once: proves the .wasm
// and its glue agree (wasm-bindgen versions) before the browser tests run.
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
const dir = new URL('../web/pkg/', import.meta.url);
vm.runInThisContext(readFileSync(new URL('kcerts_wasm.js', dir), 'utf8') + '\nglobalThis.wasm_bindgen = wasm_bindgen;');
const k = globalThis.wasm_bindgen;
k.initSync({ module: readFileSync(new URL('kcerts_wasm_bg.wasm', dir)) });
const calls = [];
const analysis = k.analyze([{ name: 'junk.crt', bytes: new Uint8Array([0x30, 0x82, 0xff]) }, { name: 'disk.img', size: 2 ** 40 }],
  Date.now(), (done, total) => calls.push([done, total]));
const r = analysis.report('notAfter', 1, 10);
if (r.items !== 2 || r.otherCount !== 2 || r.page.total !== 0 || !r.others[0].error || !/byte limit/.test(r.others[1].error)) throw new Error('unexpected report: ' + JSON.stringify(r));
if (JSON.stringify(calls.at(-1)) !== '[3,3]') throw new Error('unexpected progress: ' + JSON.stringify(calls));
console.log(`kcerts-wasm ${k.version()} loads in Node; bad bytes give: ${r.others[0].error}`);
