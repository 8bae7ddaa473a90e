// Loads the built web/pkg module in Node and calls it once: proves the .wasm
// and its glue agree (wasm-bindgen versions) before the browser tests run.
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
const dir = new URL('../web/pkg/', import.meta.url);
vm.runInThisContext(readFileSync(new URL('kcerts_wasm.js', dir), 'utf8') + '\nglobalThis.wasm_bindgen = wasm_bindgen;');
globalThis.wasm_bindgen.initSync({ module: readFileSync(new URL('kcerts_wasm_bg.wasm', dir)) });
const a = globalThis.wasm_bindgen.analyze([{ name: 'junk.crt', bytes: new Uint8Array([0x30, 0x82, 0xff]) }], Date.now());
if (a.items.length !== 1 || !a.items[0].error) throw new Error('unexpected analysis: ' + JSON.stringify(a));
console.log(`kcerts-wasm ${globalThis.wasm_bindgen.version()} loads in Node; bad bytes give: ${a.items[0].error}`);
