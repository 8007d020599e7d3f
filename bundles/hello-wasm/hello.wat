;; bundles/hello-wasm/hello.wat: the source of hello.wasm (rebuilt and compared by the tests
;; when wat2wasm from Debian's wabt is installed). Writes one line to stdout through WASI.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 2)
  ;; iovec at 0: {buf = 16, len = 20}; bytes written go to 8.
  (data (i32.const 0) "\10\00\00\00\14\00\00\00")
  (data (i32.const 16) "hello from wasm, bv\0a")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
