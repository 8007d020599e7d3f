// The names the rewriter adds to a module, shared with the runner (which loads only this file,
// not the rewriter, to keep its start-up short), and the rewriter's constants a report names
// (app/wasm-report.ts, which must not bring the rewriter into the lifecycle commands' snapshot).

/** The fuel counter: a mutable i64 global the host sets before the run and reads after it. */
export const FUEL_EXPORT = '__bvisor_fuel';
/** The deferred start function, called by the host once the budget is set. */
export const START_EXPORT = '__bvisor_start';
/** Every table is exported as this prefix + its index, for the runner to measure. */
export const TABLE_EXPORT_PREFIX = '__bvisor_table';

/** The fuel unit's definition, named in every wasm report. */
export const FUEL_VERSION = 'fuel:wasmtime-like/v1';
/**
 * What one table entry costs the runner, in bytes: measured on Node 20 (V8 11.3) as the VmHWM
 * growth per entry, 28 B resident for a funcref table and 60 B at the peak of a table.grow (old
 * and new backing stores alive together); externref 8 and 16. Rounded up.
 */
export const TABLE_ENTRY_BYTES = 64;
