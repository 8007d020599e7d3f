// The wasm rewriter's process (app/instrument.ts starts it, through the Linux launcher, under a
// boundary of its own: app/wasm.ts rewriterManifest). It instruments one module, which is the
// bundle author's and so hostile until proven otherwise: the engine's validation and our rewriter
// run here, confined, under a memory bound and a deadline, and never in bvisor's own process.
// It reads its job from fd 3 (one JSON line: the caps; then the module's bytes) and writes its
// reply to fd 4 (one JSON line; after a result, the rewritten module's bytes). It reads nothing
// else and writes nothing else; whatever goes wrong is a reply, never a stack trace.
import { closeSync } from 'node:fs';
import { instrument, WasmRefused, type FuelOptions, type FuelResult } from '../../core/wasm/fuel.js';
import { WasmFormatError } from '../../core/wasm/binary.js';
import { readAll, writeAll } from './fd-io.js';
import { nonDumpable } from './nodump.js';

/** The reply's first line: the result without its bytes (they follow, `bytes` of them) and
 * without the module's imports and exports (bvisor reads those itself), or why there is none. */
export type RewriterReply = { result: Omit<FuelResult, 'bytes' | 'imports' | 'exports'>; bytes: number } | { refused: string; hint?: string } | { format: string; offset: number } | { failed: string };

/** The job's bytes: its first line (the caps) and the module after it. */
export function parseJob(raw: Buffer): { caps: FuelOptions; module: Uint8Array } {
  const nl = raw.indexOf(10);
  if (nl < 0) throw new Error('the job has no first line');
  const caps = JSON.parse(raw.subarray(0, nl).toString('utf8')) as FuelOptions;
  return { caps, module: new Uint8Array(raw.buffer, raw.byteOffset + nl + 1, raw.length - nl - 1) };
}

/** The reply to one job (never throws), and the bytes that follow it. */
export function rewrite(raw: Buffer): { reply: RewriterReply; bytes: Uint8Array | null } {
  try {
    const { caps, module } = parseJob(raw);
    const { bytes, imports: _imports, exports: _exports, ...result } = instrument(module, caps);
    return { reply: { result, bytes: bytes.length }, bytes };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // The parent throws the same kinds the rewriter threw (a refusal is a refusal, named as such).
    if (e instanceof WasmRefused) return { reply: { refused: message, ...(e.hint !== undefined ? { hint: e.hint } : {}) }, bytes: null };
    if (e instanceof WasmFormatError) return { reply: { format: message.replace(/ at byte \d+$/, ''), offset: e.offset }, bytes: null };
    return { reply: { failed: message.slice(0, 1024) }, bytes: null };
  }
}

export function main(): void {
  let said: { reply: RewriterReply; bytes: Uint8Array | null };
  try {
    // Not dumpable before the author's bytes are read.
    const notRun = nonDumpable();
    if (notRun !== null) said = { reply: { failed: notRun }, bytes: null };
    else {
      const raw = readAll(3);
      closeSync(3);
      said = rewrite(raw);
    }
  } catch (e) {
    said = { reply: { failed: `the job could not be read: ${(e as Error).message}` }, bytes: null };
  }
  try {
    writeAll(4, Buffer.from(JSON.stringify(said.reply) + '\n'));
    if (said.bytes) writeAll(4, said.bytes);
  } catch {
    // Nobody to tell (bvisor is gone, or stopped reading): an exit that is not 0 says it.
    process.exitCode = 1;
  }
}

if (require.main === module) main();
