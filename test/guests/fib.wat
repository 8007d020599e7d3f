;; A hand-written benchmark guest for fuel metering: fib(30) recursively, 20 times (a small
;; recursive function with no loop: every call pays the fuel check at function entry), then prints
;; the sum. Like bundles/wasm-compute/compute.wat, whose fib this is, at n = 30; reps is fixed
;; here (no argv parsing in a hand-written guest).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func $print (param $v i32) (local $p i32)
    (local.set $p (i32.const 64))
    (i32.store8 (local.get $p) (i32.const 10))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $digits (local.get $v)))
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (i32.sub (i32.const 65) (local.get $p)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $i i32) (local $s i32)
    (loop $reps
      (local.set $s (i32.add (local.get $s) (call $fib (i32.const 30))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $reps (i32.lt_u (local.get $i) (i32.const 20))))
    (call $print (local.get $s))))
