// Drops the code cache of Node's own built-in modules from a start-up snapshot blob
// (scripts/build-snapshot.mjs; docs/startup.md, "What a blob holds").
//
// `node --build-snapshot` compiles every built-in module of Node (324 in Node 20) and keeps their
// V8 code cache in the blob: about 2.9 MB of a lifecycle.blob of 7.1 MiB. Every start reads it,
// copies each entry into a vector of its own and hands them to Node's built-in loader, which uses
// one only when a built-in module is first required after the start (the modules our entries
// require are already in the blob's heap). On our machines, whose page faults are dear, that copy
// was about 230 page faults and 5 ms of every command. Node's own way to leave it out
// (`--build-snapshot-config` with `withoutCodeCache`) also clears the bytecode of every function
// in the heap, which the warm-up compiled on purpose; in Node 20.20 a blob made so does not even
// run our CLI (an export of oclif's is missing at the first command).
//
// Node writes the code cache last in the blob (src/node_snapshotable.cc, SnapshotData::ToBlob:
// magic, metadata, V8's startup data, isolate data, env info, then the code cache as a vector:
// a count, then per entry the module id as a length and bytes, and the cache as a length and
// bytes; every length and count a size_t: 64-bit little-endian is the only layout read here, and
// on any other machine nothing is dropped). So the
// vector is found as the one offset from which a well-formed vector of module ids runs exactly to
// the end of the file, and replaced with an empty one (a count of 0), which is what Node reads
// from a blob built without code cache. Anything else (no such offset, or more than one) leaves
// the blob as it is. The build then checks that Node loads the blob and runs its main, and Node
// itself says how much code cache it found (NODE_DEBUG_NATIVE=CODE_CACHE: "snapshot contains 0
// code cache"; test/cli/snapshot-code-cache.e2e.test.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { pathToFileURL } from 'node:url';

/** Node writes sizes as size_t in the machine's order: read here as 64-bit little-endian only. */
const LAYOUT_KNOWN = endianness() === 'LE' && ['x64', 'arm64', 'riscv64', 'loong64', 'ppc64', 'mips64el'].includes(process.arch);

/** A module id as Node names its built-ins: `fs`, `internal/fs/utils`, `node:sea`… */
const MODULE_ID = /^[A-Za-z0-9_][A-Za-z0-9_/.:-]*$/;

/**
 * Where the built-ins' code cache starts in `b` and how many entries it has, when exactly one
 * offset holds a vector of module ids and caches that ends where the file ends; else null.
 */
export function findBuiltinCodeCache(b) {
  if (!LAYOUT_KNOWN) return null;
  // A size_t below 2^32: its upper four bytes are zero.
  const size = (p) => (p + 8 <= b.length && b.readUInt32LE(p + 4) === 0 ? b.readUInt32LE(p) : -1);
  const endOfVector = (start) => {
    const count = size(start);
    if (count < 1 || count > 10000) return -1;
    let p = start + 8;
    for (let i = 0; i < count; i++) {
      const idLength = size(p);
      if (idLength < 1 || idLength > 256 || p + 8 + idLength > b.length) return -1;
      if (!MODULE_ID.test(b.toString('latin1', p + 8, p + 8 + idLength))) return -1;
      p += 8 + idLength;
      const cacheLength = size(p);
      if (cacheLength < 0 || p + 8 + cacheLength > b.length) return -1;
      p += 8 + cacheLength;
    }
    return p;
  };
  let found = null;
  for (let start = 0; start + 8 <= b.length; start++) {
    if (b[start + 4] | b[start + 5] | b[start + 6] | b[start + 7]) continue;
    if (endOfVector(start) !== b.length) continue;
    if (found) return null; // two readings of the same bytes: do not guess
    found = { start, entries: b.readUInt32LE(start) };
  }
  return found;
}

/**
 * Rewrites the blob at `path` with an empty code cache. Returns the bytes and entries dropped,
 * or null when the blob was left as it was (see findBuiltinCodeCache).
 */
export function dropBuiltinCodeCache(path) {
  const b = readFileSync(path);
  const at = findBuiltinCodeCache(b);
  if (!at || at.entries === 0) return null;
  writeFileSync(path, Buffer.concat([b.subarray(0, at.start), Buffer.alloc(8)]));
  return { dropped: b.length - at.start - 8, entries: at.entries, original: b };
}

// `node scripts/snapshot-code-cache.mjs BLOB`: drops it from BLOB and prints what was dropped as
// JSON (null when the blob was left as it was). The tests drive it so, on blobs of their own.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = dropBuiltinCodeCache(process.argv[2]);
  console.log(JSON.stringify(r && { dropped: r.dropped, entries: r.entries }));
}
