;; bundles/wasm-out-of-fuel/spin.wat: loops for ever; only its fuel limit stops it.
(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))
