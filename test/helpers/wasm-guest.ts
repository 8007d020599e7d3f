// WAT guests for the WASI file host tests: a guest that performs file operations on preopen
// fd 3 and prints one errno per line (and, for reads, the first bytes it read).
export type Op =
  | { op: 'open'; path: string; write?: boolean; create?: boolean; follow?: boolean; dir?: number }
  | { op: 'read'; path: string } // open, read up to 64 bytes, print them
  | { op: 'symlink'; target: string; path: string }
  | { op: 'mkdir'; path: string }
  | { op: 'link'; from: string; to: string }
  | { op: 'rename'; from: string; to: string };

/** WAT for a guest that performs `ops` on preopen fd 3 and prints one errno per line. */
export function guest(ops: Op[]): string {
  let data = '';
  let at = 2048;
  const str = (s: string): [number, number] => {
    const b = Buffer.from(s);
    const p = at;
    data += `(data (i32.const ${p}) "${[...b].map((x) => '\\' + x.toString(16).padStart(2, '0')).join('')}")\n`;
    at += b.length + 1;
    return [p, b.length];
  };
  const body = ops
    .map((o) => {
      switch (o.op) {
        case 'open':
        case 'read': {
          const [p, l] = str(o.path);
          const write = o.op === 'open' && (o.write || o.create);
          const rights = write ? 64n | 2n : 2n;
          const oflags = o.op === 'open' && o.create ? 1 : 0;
          const lookup = o.op === 'open' && o.follow ? 1 : 0;
          const call = `(call $path_open (i32.const ${o.op === 'open' ? (o.dir ?? 3) : 3}) (i32.const ${lookup}) (i32.const ${p}) (i32.const ${l}) (i32.const ${oflags}) (i64.const ${rights}) (i64.const 0) (i32.const 0) (i32.const 1024))`;
          if (o.op === 'open') return `(call $print ${call})`;
          return `(local.set $e ${call}) (call $print (local.get $e))
            (if (i32.eqz (local.get $e)) (then
              (i32.store (i32.const 16) (i32.const 4096)) (i32.store (i32.const 20) (i32.const 64))
              (drop (call $fd_read (i32.load (i32.const 1024)) (i32.const 16) (i32.const 1) (i32.const 24)))
              (i32.store (i32.const 20) (i32.load (i32.const 24)))
              (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))`;
        }
        case 'symlink': {
          const [tp, tl] = str(o.target);
          const [p, l] = str(o.path);
          return `(call $print (call $path_symlink (i32.const ${tp}) (i32.const ${tl}) (i32.const 3) (i32.const ${p}) (i32.const ${l})))`;
        }
        case 'mkdir': {
          const [p, l] = str(o.path);
          return `(call $print (call $path_create_directory (i32.const 3) (i32.const ${p}) (i32.const ${l})))`;
        }
        case 'link':
        case 'rename': {
          const [fp, fl] = str(o.from);
          const [tp, tl] = str(o.to);
          return o.op === 'link'
            ? `(call $print (call $path_link (i32.const 3) (i32.const 0) (i32.const ${fp}) (i32.const ${fl}) (i32.const 3) (i32.const ${tp}) (i32.const ${tl})))`
            : `(call $print (call $path_rename (i32.const 3) (i32.const ${fp}) (i32.const ${fl}) (i32.const 3) (i32.const ${tp}) (i32.const ${tl})))`;
        }
      }
    })
    .join('\n');
  return `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ${data}
  (func $print (param $v i32) (local $p i32)
    (local.set $p (i32.const 200))
    (i32.store8 (local.get $p) (i32.const 10))
    (loop $d
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $d (local.get $v)))
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (i32.sub (i32.const 201) (local.get $p)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $e i32) ${body}))`;
}

