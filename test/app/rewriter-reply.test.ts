// What bvisor believes of the wasm rewriter's process (app/rewriter-reply.ts): its reply line and
// bytes however the pipe cuts them, nothing past their form, and each way the process can end read
// as the bound it met. The stderr lines are V8's own (Node 20), as seen from processes run out of
// heap, of a memory cgroup and of RLIMIT_AS while instrumenting (docs/wasm-fuel.md).
import { describe, expect, it } from 'vitest';
import { ReplyReader, answer, type RewriterEnd } from '../../src/app/rewriter-reply.js';
import { WasmRefused } from '../../src/core/wasm/fuel.js';
import { WasmFormatError } from '../../src/core/wasm/binary.js';
import { BvisorError } from '../../src/contract/errors.js';
import { thrownAny as thrown } from '../helpers/thrown.js';

const BOUNDS = { heapMb: 1024, memoryBytes: 2 * 2 ** 30, wallMs: 60_000 };
const RESULT = { deferredStart: null, functions: 2, memory: { min: 1, max: 16 }, tables: [] };
const OK: RewriterEnd = { timedOut: false, oomKilled: false, signal: null, exitCode: 0, stderr: '' };

function read(chunks: Array<string | Buffer>, lineMax = 1024): ReplyReader {
  const r = new ReplyReader(lineMax);
  for (const c of chunks) r.push(typeof c === 'string' ? Buffer.from(c) : c);
  return r;
}

describe('ReplyReader', () => {
  const line = JSON.stringify({ result: { ...RESULT, note: 'é' }, bytes: 5 }) + '\n';
  const all = Buffer.concat([Buffer.from(line), Buffer.from([1, 2, 3, 4, 5])]);

  it('reads the line and the bytes wherever the pipe cuts them, a UTF-8 character included', () => {
    const cutInE = all.indexOf(Buffer.from('é')) + 1; // between the two bytes of é
    for (const cuts of [[all.length], [3], [cutInE], [line.length - 1], [Buffer.byteLength(line)], [Buffer.byteLength(line) + 2], [1, cutInE, Buffer.byteLength(line) + 1]]) {
      const chunks: Buffer[] = [];
      let at = 0;
      for (const c of [...cuts, all.length]) {
        chunks.push(all.subarray(at, c));
        at = c;
      }
      const r = read(chunks);
      expect(r.unbelieved, String(cuts)).toBeNull();
      expect(answer(r, OK, BOUNDS, false)).toEqual({ ...RESULT, note: 'é', bytes: new Uint8Array([1, 2, 3, 4, 5]) });
    }
  });

  it.each([
    ['a line longer than its bound', [`{"failed":"${'x'.repeat(2000)}"}\n`], /a reply line longer than 1024 bytes/],
    ['no newline within the bound', ['{"failed":"x"'.padEnd(1100, ' ')], /a reply line longer than 1024 bytes/],
    ['a line that is not JSON', ['{result\n'], /a reply line that is not JSON/],
    ['a line that is not an object', ['5\n'], /a reply line that is not an object/],
    ['an array', ['[1]\n'], /a reply line that is not an object/],
    ['a negative size', [JSON.stringify({ result: RESULT, bytes: -1 }) + '\n'], /a module of -1 bytes/],
    ['a size that is not a whole number', [JSON.stringify({ result: RESULT, bytes: 1.5 }) + '\n'], /a module of 1\.5 bytes/],
    ['a size above what V8 compiles', [JSON.stringify({ result: RESULT, bytes: 2 ** 30 + 1 }) + '\n'], /a module of 1073741825 bytes/],
    ['more bytes than announced', [JSON.stringify({ result: RESULT, bytes: 2 }) + '\n', 'abc'], /more than the 2 bytes it announced/],
    ['bytes after a refusal', [JSON.stringify({ refused: 'no' }) + '\nx'], /more than the 0 bytes it announced/],
  ])('does not believe %s', (_what, chunks, why) => {
    const r = read(chunks);
    expect(r.unbelieved).toMatch(why);
    expect(r.push(Buffer.from('more'))).toBe(false);
    const e = thrown(() => answer(r, OK, BOUNDS, false));
    expect((e as BvisorError).code).toBe('BV_INTERNAL');
    expect(e.message).toMatch(/^the wasm rewriter wrote .*; it was stopped$/);
  });

  it('fewer bytes than announced, or none, is an error, not a module', () => {
    const r = read([JSON.stringify({ result: RESULT, bytes: 4 }) + '\n', 'ab']);
    expect(thrown(() => answer(r, OK, BOUNDS, false)).message).toBe('the wasm rewriter said 4 bytes and wrote 2');
    expect(thrown(() => answer(read([]), OK, BOUNDS, false)).message).toBe('the wasm rewriter ended (exit code 0) without a reply');
  });
});

describe('answer: how the rewriter ended', () => {
  const none = read([]);
  const heapLimit = 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory';
  const promotion = 'FATAL ERROR: MarkCompactCollector: young object promotion failed Allocation failed - JavaScript heap out of memory';
  const zone = 'FATAL ERROR: Zone Allocation failed - process out of memory';
  const reserve = '#\n# Fatal process OOM in Failed to reserve virtual memory for CodeRange\n#';
  const memory = "instrumenting it needs more than the 2048 MiB of memory bvisor's rewriter may use; nothing was run";
  const addressSpace = "instrumenting it needs more than the 2048 MiB of memory (address space, RLIMIT_AS) bvisor's rewriter may use; nothing was run";
  const heap = "instrumenting it needs more than the 1024 MiB of heap bvisor's rewriter may use; nothing was run";
  const ended = (e: Partial<RewriterEnd>): RewriterEnd => ({ ...OK, exitCode: null, ...e });

  it.each([
    ['its time up (the launcher killed it)', ended({ timedOut: true, signal: 9 }), false, "instrumenting it takes longer than the 60 s bvisor's rewriter may take; nothing was run"],
    ['its memory cgroup OOM-killed it', ended({ oomKilled: true, signal: 9 }), false, memory],
    ['a zone out of memory (cgroup)', ended({ signal: 6, stderr: zone }), false, memory],
    ['V8 at its heap limit (cgroup)', ended({ signal: 6, stderr: heapLimit }), false, heap],
    ['V8 at its heap limit (RLIMIT_AS): still the heap', ended({ signal: 6, stderr: heapLimit }), true, heap],
    ['a promotion failed (RLIMIT_AS): the address space', ended({ signal: 6, stderr: promotion }), true, addressSpace],
    ['a reservation failed (RLIMIT_AS)', ended({ signal: 5, stderr: reserve }), true, addressSpace],
    ['a fault (RLIMIT_AS): an allocation not checked', ended({ signal: 11 }), true, addressSpace],
    ['an array buffer not allocated (RLIMIT_AS)', { ...OK, stderr: '' }, true, addressSpace],
  ])('%s', (_what, end, as, message) => {
    const reader = end === OK || (end.exitCode === 0 && !end.timedOut) ? read([JSON.stringify({ failed: 'Array buffer allocation failed' }) + '\n']) : none;
    const e = thrown(() => answer(reader, end, BOUNDS, as));
    expect(e).toBeInstanceOf(WasmRefused);
    expect(e.message).toBe(message);
  });

  it('an abort or a fault that is not memory is an error that says what the process said, not a bound', () => {
    const abort = thrown(() => answer(none, ended({ signal: 6, stderr: '#\n# Fatal error in ../src/wasm/x.cc, line 12\n# Check failed: x.\n#' }), BOUNDS, true));
    expect((abort as BvisorError).code).toBe('BV_INTERNAL');
    expect(abort.message).toBe('the wasm rewriter ended (killed by signal 6) without a reply: # Fatal error in ../src/wasm/x.cc, line 12 | # Check failed: x. | #');
    const fault = thrown(() => answer(none, ended({ signal: 11 }), BOUNDS, false));
    expect(fault.message).toBe('the wasm rewriter ended (killed by signal 11) without a reply');
  });

  it("the rewriter's refusals are the rewriter's own", () => {
    const refused = thrown(() => answer(read([JSON.stringify({ refused: 'it exports "__bvisor_x"', hint: 'rename it' }) + '\n']), OK, BOUNDS, false));
    expect(refused).toBeInstanceOf(WasmRefused);
    expect([refused.message, (refused as WasmRefused).hint]).toEqual(['it exports "__bvisor_x"', 'rename it']);
    const format = thrown(() => answer(read([JSON.stringify({ format: 'unexpected end', offset: 12 }) + '\n']), OK, BOUNDS, false));
    expect(format).toBeInstanceOf(WasmFormatError);
    expect((format as WasmFormatError).offset).toBe(12);
    expect(thrown(() => answer(read([JSON.stringify({ failed: 'boom' }) + '\n']), OK, BOUNDS, false)).message).toBe('the wasm rewriter failed: boom');
    // Not made non-dumpable (its preload not loaded): the install's fault, not a bug.
    const unloaded = thrown(() => answer(read([JSON.stringify({ failed: "this process was not made non-dumpable (bvisor's libbvnodump.so was not preloaded): not run" }) + '\n']), OK, BOUNDS, false));
    expect((unloaded as BvisorError).code).toBe('BV_SHIM_LOAD');
    expect(unloaded.message).toMatch(/^the wasm rewriter was not made non-dumpable: ld.so could not preload/);
  });
});
