// The names the rewriter adds to a module, shared with the runner (which loads only this file,
// not the rewriter, to keep its start-up short).

/** The fuel counter: a mutable i64 global the host sets before the run and reads after it. */
export const FUEL_EXPORT = '__bvisor_fuel';
/** The deferred start function, called by the host once the budget is set. */
export const START_EXPORT = '__bvisor_start';
/** Every table is exported as this prefix + its index, for the runner to measure. */
export const TABLE_EXPORT_PREFIX = '__bvisor_table';
