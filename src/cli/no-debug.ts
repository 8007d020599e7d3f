// Stands in for the debug package in the CLI's start-up snapshots (scripts/build-snapshot.mjs
// aliases it). oclif makes its logger with it at every start, and the real package, to pick a
// colour, creates Node's stderr stream then (about 0.8 ms of each command, docs/performance.md,
// sixteenth pass) for a logger that prints nothing: the snapshot runs only where DEBUG (and
// NODE_DEBUG) is unset (bin/bvisor starts bin/run.js otherwise), and debug decides what it
// prints from DEBUG alone; oclif never turns it on by itself. So each logger here is off for
// good. bin/run.js loads the real package, and DEBUG=oclif* shows oclif's traces there.

/** A logger that is off: called, it does nothing; it says it is off, as debug's own would. */
interface Off {
  (...args: unknown[]): void;
  enabled: boolean;
  namespace: string;
  extend(ns: string, delimiter?: string): Off;
}

/** debug's factory: a logger for `namespace`, off. The module is the factory itself, as debug's
 * is, so a CommonJS caller that calls the module and an ES default import both get it. */
function createDebug(namespace: string): Off {
  const off = (() => undefined) as unknown as Off;
  off.enabled = false;
  off.namespace = namespace;
  off.extend = (ns, delimiter = ':') => createDebug(`${namespace}${delimiter}${ns}`);
  return off;
}

export = createDebug;
