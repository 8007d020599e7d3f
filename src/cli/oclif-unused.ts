// Stands in, in the CLI's start-up snapshots only (scripts/build-snapshot.mjs aliases them), for
// four packages @oclif/core imports when it loads but calls only on paths bvisor never takes:
// built into a blob, each is evaluated at build and deserialised at every start (its objects,
// regular expressions and tables: 280 KB off each blob, about 3 ms of every command;
// docs/performance.md, fifteenth pass). bin/run.js loads the real packages. A call reaching one of
// these is a path bvisor was not built for: it throws, naming the package, rather than guess.
//
// - tinyglobby: oclif's command discovery by glob pattern. bvisor's commands are an explicit
//   registry (package.json oclif.commands.strategy "explicit").
// - minimatch: oclif matching plugin names against patterns (oclif.plugins, devPlugins). bvisor
//   has no plugins, and the snapshot loads no user plugins.
// - lilconfig: oclif looking for an oclif config outside a plugin's package.json. bvisor's
//   package.json has its oclif config.
// - cli-spinners: oclif's spinner frames, for its progress spinner on a terminal. The snapshot
//   runs only without one (bin/bvisor starts bin/run.js on a terminal), where oclif uses its
//   plain progress output (ux/index.js decides when it loads, at build: no terminal).

function unused(pkg: string, why: string): never {
  throw new Error(`bvisor: ${pkg} is not in the start-up snapshot (${why}); with BVISOR_NO_SNAPSHOT=1, bvisor runs from bin/run.js, which loads it`);
}

/** tinyglobby's glob. */
export function glob(): never {
  return unused('tinyglobby', 'command discovery by glob: bvisor registers its commands explicitly');
}

/** minimatch's matcher. */
export function minimatch(): never {
  return unused('minimatch', 'plugin name patterns: bvisor loads no plugins');
}

/** lilconfig's config finder. */
export function lilconfig(): never {
  return unused('lilconfig', "an oclif config outside package.json: bvisor's is in it");
}

/** cli-spinners' table, by style name: every style throws when its frames are read. */
const spinners = new Proxy({} as Record<string, { frames: string[] }>, {
  get: (_, style) => (typeof style === 'string' && style !== 'then' ? { get frames(): never { return unused('cli-spinners', 'spinner frames: the snapshot runs without a terminal') } } : undefined),
});
export default spinners;
