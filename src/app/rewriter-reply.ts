// What bvisor believes of the wasm rewriter's process (backends/wasm/rewriter.ts): its reply, read
// as it comes off the pipe, and its end, read as the bound it met. The rewriter is bvisor's own
// code, but it has just run V8 over the bundle author's bytes: a reply is taken no further than
// its form allows (a short line, then exactly the bytes it announced), and an end that is not a
// reply is one of the bounds (time, memory, heap) or an error that says what the process said.
import { WasmRefused, V8_MAX_MODULE_BYTES, type FuelResult } from '../core/wasm/fuel.js';
import { WasmFormatError } from '../core/wasm/binary.js';
import { BvisorError } from '../contract/errors.js';
import type { RewriterReply } from '../backends/wasm/rewriter.js';
import type { RewriterBounds } from './instrument.js';
import { NOT_PRELOADED, notPreloadedError } from '../backends/wasm/nodump.js';

/** The longest reply line believed of a module of `n` bytes: a result's few numbers and its
 * tables' limits (a table takes at least three bytes of the module, about 40 of JSON). */
export const replyLineMax = (n: number): number => 64 * 1024 + 16 * n;

/** The reply line, then the bytes it announces, copied as they come into one buffer of that size. */
export class ReplyReader {
  reply: RewriterReply | null = null;
  /** What the rewriter wrote that no rewriter writes, or null. */
  unbelieved: string | null = null;
  private line: Buffer[] = [];
  private lineLength = 0;
  private out: Buffer | null = null;
  private at = 0;

  constructor(private readonly lineMax: number) {}

  /** Takes a chunk; false once what came is not believed (the caller then stops the rewriter). */
  push(chunk: Buffer): boolean {
    if (this.unbelieved !== null) return false;
    let d = chunk;
    if (this.out === null) {
      const nl = d.indexOf(10);
      this.lineLength += nl < 0 ? d.length : nl;
      if (this.lineLength > this.lineMax) return this.unbelievable(`a reply line longer than ${this.lineMax} bytes`);
      if (nl < 0) {
        this.line.push(d);
        return true;
      }
      this.line.push(d.subarray(0, nl));
      let reply: unknown;
      try {
        reply = JSON.parse(Buffer.concat(this.line).toString('utf8'));
      } catch {
        return this.unbelievable('a reply line that is not JSON');
      }
      this.line = [];
      if (typeof reply !== 'object' || reply === null || Array.isArray(reply)) return this.unbelievable('a reply line that is not an object');
      this.reply = reply as RewriterReply;
      const n = 'result' in this.reply ? this.reply.bytes : 0;
      if (!Number.isSafeInteger(n) || n < 0 || n > V8_MAX_MODULE_BYTES) return this.unbelievable(`a module of ${String(n)} bytes`);
      this.out = Buffer.allocUnsafeSlow(n);
      d = d.subarray(nl + 1);
    }
    if (this.at + d.length > this.out.length) return this.unbelievable(`more than the ${this.out.length} bytes it announced`);
    d.copy(this.out, this.at);
    this.at += d.length;
    return true;
  }

  /** The bytes after the line, as far as they came; null before the line's end. */
  bytes(): Buffer | null {
    return this.out === null ? null : this.out.subarray(0, this.at);
  }

  private unbelievable(why: string): false {
    this.unbelieved = why;
    this.line = [];
    this.out = null;
    return false;
  }
}

/** How the rewriter's process ended (the launcher's result, and its stderr as kept). */
export interface RewriterEnd {
  timedOut: boolean;
  oomKilled: boolean;
  signal: number | null;
  exitCode: number | null;
  stderr: string;
}

const HINT_SMALLER = 'a function of millions of instructions, or blocks typed with hundreds of values: build the module with smaller functions and simpler block types';
/** V8 reporting an allocation that failed (its heap's, a zone's, an array buffer's, a reservation's). */
const ALLOCATION = /allocation failed|out of memory|Fatal process OOM|Failed to reserve/i;
const SIGBUS = 7;
const SIGSEGV = 11;

/**
 * The rewrite (without the module's imports and exports, which bvisor reads itself), or the
 * refusal or error its end means. `addressSpace`: the memory bound is RLIMIT_AS (no memory cgroup
 * here), where running out of memory shows as whatever V8 was allocating, or as a fault where an
 * allocation was not checked (found by attack: SIGSEGV, "Committing semi space failed").
 */
export function answer(reader: ReplyReader, end: RewriterEnd, bounds: RewriterBounds, addressSpace: boolean): Omit<FuelResult, 'imports' | 'exports'> {
  const { reply } = reader;
  if (reader.unbelieved !== null) throw new BvisorError('BV_INTERNAL', `the wasm rewriter wrote ${reader.unbelieved}; it was stopped`);
  if (end.timedOut) throw new WasmRefused(`instrumenting it takes longer than the ${bounds.wallMs! / 1000} s bvisor's rewriter may take; nothing was run`, HINT_SMALLER);
  const failed = reply !== null && 'failed' in reply ? String(reply.failed) : '';
  const ofMemory = (what: string): WasmRefused => new WasmRefused(`instrumenting it needs more than the ${bounds.memoryBytes === null ? '' : `${bounds.memoryBytes / 2 ** 20} MiB of `}${what} bvisor's rewriter may use; nothing was run`, HINT_SMALLER);
  const ofHeap = (): WasmRefused => new WasmRefused(`instrumenting it needs more than the ${bounds.heapMb} MiB of heap bvisor's rewriter may use; nothing was run`, HINT_SMALLER);
  // V8's own heap bound, named as such whatever else holds.
  if (/Reached heap limit/.test(end.stderr)) throw ofHeap();
  if (addressSpace && (end.signal === SIGSEGV || end.signal === SIGBUS || ALLOCATION.test(end.stderr) || ALLOCATION.test(failed))) throw ofMemory('memory (address space, RLIMIT_AS)');
  // The memory cgroup's OOM kill, or an allocation V8 reports as failed outside its heap.
  if (end.oomKilled || /process out of memory|Fatal process OOM/i.test(end.stderr) || ALLOCATION.test(failed)) throw ofMemory('memory');
  if (/JavaScript heap out of memory/.test(end.stderr)) throw ofHeap();
  const how = end.signal !== null ? `killed by signal ${end.signal}` : `exit code ${end.exitCode}`;
  const said = end.stderr.trim() ? `: ${end.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}` : '';
  if (reply === null || end.exitCode !== 0) throw new BvisorError('BV_INTERNAL', `the wasm rewriter ended (${how}) without a reply${said}`);
  if ('result' in reply) {
    const bytes = reader.bytes();
    if (bytes === null || bytes.length !== reply.bytes) throw new BvisorError('BV_INTERNAL', `the wasm rewriter said ${reply.bytes} bytes and wrote ${bytes?.length ?? 0}`);
    return { ...reply.result, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
  }
  if ('refused' in reply) throw new WasmRefused(String(reply.refused), typeof reply.hint === 'string' ? reply.hint : undefined);
  if ('format' in reply) throw new WasmFormatError(String(reply.format), Number(reply.offset));
  if (failed === NOT_PRELOADED) {
    const { message, hint } = notPreloadedError('the wasm rewriter');
    throw new BvisorError('BV_SHIM_LOAD', message, { hint });
  }
  throw new BvisorError('BV_INTERNAL', `the wasm rewriter failed: ${failed}`);
}
