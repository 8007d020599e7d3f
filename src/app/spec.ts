// bvisor spec: a starter manifest that grants things explicitly, in YAML a person can read.
// It is written without ever following a link at boundary.yaml (bvisor often runs as root, and
// a planted `boundary.yaml -> /etc/…` must not become a write to /etc): a new file is created
// with O_EXCL|O_NOFOLLOW, and --force replaces only a regular file, by rename.
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, rmSync, constants as fs } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { BvisorError } from '../contract/errors.js';
import { writeFileAtomic, writeAll } from '../host/atomic.js';
import { isDirectory, rmdirIfEmpty } from '../host/lookup.js';

export const PROCESS_SPEC = `# bvisor boundary manifest. Everything not granted here is denied.
# Check it with \`bvisor validate .\` and see how this host enforces it with \`bvisor plan .\`.
bvisorVersion: "1"
workload:
  process:
    exe: /usr/bin/echo                     # absolute path; it must be under an exec grant
    args: ["hello from inside the boundary"]
    cwd: /
filesystem:                                # deny by default: the root holds only these
  - { path: /usr, access: read-exec }      # programs and shared libraries
network: deny                              # an empty network namespace
spawn: deny                                # no new processes or threads (seccomp); a shell
                                           # needs descendants, with limits.processes, and
                                           # then limits.cpu as { value: 5s, guarantee: mediated }
env:                                       # exactly this environment; nothing is inherited
  PATH: /usr/bin:/bin
fds: none                                  # only stdin, stdout, stderr
stdio: { stdin: null, stdout: inherit, stderr: inherit }
limits: { wall: 10s, cpu: 5s, memory: 64Mi, openFiles: 64 }
tmp: none
guarantee: enforced                        # refuse to run if any clause cannot be enforced
`;

/** The module the wasm starter names, inside the bundle. */
export const WASM_MODULE = 'hello.wasm';

export const WASM_SPEC = `# bvisor boundary manifest for a WASI preview 1 module. Everything not granted is denied.
bvisorVersion: "1"
workload:
  wasm:
    module: ${WASM_MODULE}                     # inside the bundle
    args: []
    deterministic: true                    # seeded random, virtual clocks: fuel counts repeat
filesystem: []                             # grants become WASI preopens (directories only)
network: deny
spawn: deny
env: {}
stdio: { stdin: null, stdout: capture, stderr: capture }
limits: { wall: 5s, memory: 16Mi, fuel: 10000000, output: 1Mi }
guarantee: enforced
`;

/** A failed file operation as BV_IO, naming the path and the errno (never a stack trace). */
function ioError(op: string, path: string, e: unknown): BvisorError {
  const code = (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);
  return new BvisorError('BV_IO', `${op} ${path}: ${code}`, { hint: 'check that the bundle directory exists (or can be made) and is writable', cause: e });
}

function notPlain(path: string, what: string): BvisorError {
  return new BvisorError('BV_SPEC_TARGET', `${path} is ${what}; bvisor spec writes only a plain file of its own`, { hint: 'remove it, or write the starter manifest elsewhere with -b <dir>' });
}

/** What is at path without following a link: 'missing', 'file', or why it is not one. */
function whatIs(path: string): 'missing' | 'file' | string {
  try {
    const st = lstatSync(path);
    if (st.isFile()) return 'file';
    return st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? 'a directory' : 'not a regular file';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw ioError('lstat', path, e);
  }
}

/** Creates path with the text; never follows a link there, never replaces anything. */
function createNew(path: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(path, fs.O_WRONLY | fs.O_CREAT | fs.O_EXCL | fs.O_NOFOLLOW | fs.O_NOCTTY, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError('create', path, e);
    const what = whatIs(path);
    if (what === 'file') throw new BvisorError('BV_SPEC_EXISTS', `${path} already exists`, { hint: 'pass --force to overwrite it' });
    throw notPlain(path, what === 'missing' ? 'changing under us' : what);
  }
  try {
    writeAll(fd, text);
  } catch (e) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw ioError('write', path, e);
  }
  closeSync(fd);
}

/** Writes the starter; `lacks` names the file it refers to that the bundle does not hold yet
 * (the wasm starter's module), for the caller to say. */
export function writeSpec(opts: { dir: string; wasm: boolean; force: boolean }): { path: string; lacks: string | null } {
  if (opts.dir.includes('\0')) throw new BvisorError('BV_USAGE', 'the bundle directory name contains a NUL byte', { hint: 'see bvisor spec --help' });
  const dir = resolve(opts.dir);
  const path = join(dir, 'boundary.yaml');
  const text = opts.wasm ? WASM_SPEC : PROCESS_SPEC;
  // The bundle directory itself may be made, as mkdir(1) would: not its parents, so a mistyped
  // path is an error rather than a tree of new directories (runc spec makes none).
  let made = false;
  try {
    mkdirSync(dir);
    made = true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // The caller named a place that cannot be a bundle directory: a usage error (exit 2), as a
    // path in the wrong place is; BV_IO is for a file operation that failed on a good one.
    if (code === 'ENOENT') throw new BvisorError('BV_USAGE', `mkdir ${dir}: ENOENT (${dirname(dir)} does not exist)`, { hint: `make it first (mkdir -p ${dirname(dir)}), or name a bundle directory whose parent exists` });
    if (code === 'ENOTDIR') throw new BvisorError('BV_USAGE', `mkdir ${dir}: ENOTDIR (a component of ${dirname(dir)} is not a directory)`, { hint: 'name a bundle directory whose parents are directories' });
    if (code !== 'EEXIST') throw ioError('mkdir', dir, e);
    if (!isDirectory(dir)) throw new BvisorError('BV_USAGE', `${dir} is not a directory`, { hint: 'name a bundle directory with -b <dir> (the starter manifest is written into it as boundary.yaml)' });
    // An OCI bundle's boundary.yaml only narrows its config.json: a starter manifest there (its
    // workload, env, stdio) would make the bundle invalid (docs/oci.md#narrowing-a-config).
    if (existsSync(join(dir, 'config.json'))) throw new BvisorError('BV_USAGE', `${dir} holds config.json (an OCI bundle): a boundary.yaml beside it only narrows the config, and the starter manifest's workload, env, fds, stdio and tmp would make the bundle invalid`, { hint: 'write the narrowing clauses by hand (filesystem, network, spawn, limits…: docs/oci.md, "Narrowing a config"), or run bvisor spec -b in a directory of its own' });
  }
  try {
    writeInto(path, text, opts.force);
  } catch (e) {
    // A directory this call made holds nothing on failure (createNew removes its partial file).
    if (made) rmdirIfEmpty(dir);
    throw e;
  }
  return { path, lacks: opts.wasm && !existsSync(join(dir, WASM_MODULE)) ? WASM_MODULE : null };
}

/** boundary.yaml written at path: new, or replacing a regular file with --force. */
function writeInto(path: string, text: string, force: boolean): void {
  const what = whatIs(path);
  if (what === 'missing') createNew(path, text);
  else if (what !== 'file') throw notPlain(path, what);
  else if (!force) throw new BvisorError('BV_SPEC_EXISTS', `${path} already exists`, { hint: 'pass --force to overwrite it' });
  else {
    // rename(2) replaces the name itself, never what a link there points to, so a link raced in
    // after the check above is replaced, not written through.
    try {
      writeFileAtomic(path, text, 0o644);
    } catch (e) {
      throw ioError('write', path, e);
    }
  }
}
