// The rewriter's thread (app/instrument.ts starts it): instruments one module off the supervisor's
// main thread, under the heap bound its parent gave it, and posts back the rewritten module or
// why it was refused. It reads nothing but what it was handed, and writes nothing.
import { parentPort, workerData } from 'node:worker_threads';
import { instrument, WasmRefused, type FuelOptions } from '../core/wasm/fuel.js';
import { WasmFormatError } from '../core/wasm/binary.js';
import type { InstrumentReply } from './instrument.js';

// (Not named `module`: the CommonJS wrapper has one.)
const { bytes, caps } = workerData as { bytes: Uint8Array; caps: FuelOptions };
let reply: InstrumentReply;
let transfer: ArrayBuffer[] = [];
try {
  const result = instrument(bytes, caps);
  reply = { result };
  transfer = [result.bytes.buffer as ArrayBuffer];
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  // The parent throws the same kinds the rewriter threw (a refusal is a refusal, named as such).
  if (e instanceof WasmRefused) reply = { refused: message, ...(e.hint !== undefined ? { hint: e.hint } : {}) };
  else if (e instanceof WasmFormatError) reply = { format: message.replace(/ at byte \d+$/, ''), offset: e.offset };
  else reply = { failed: message };
}
parentPort!.postMessage(reply, transfer);
