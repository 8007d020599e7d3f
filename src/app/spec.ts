// bvisor spec: a starter manifest that grants things explicitly, in YAML a person can read.
import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BvisorError } from '../contract/errors.js';

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
spawn: deny                                # no new processes or threads (seccomp)
env:                                       # exactly this environment; nothing is inherited
  PATH: /usr/bin:/bin
fds: none                                  # only stdin, stdout, stderr
stdio: { stdin: null, stdout: inherit, stderr: inherit }
limits: { wall: 10s, cpu: 5s, memory: 64Mi, openFiles: 64 }
tmp: none
guarantee: enforced                        # refuse to run if any clause cannot be enforced
`;

export const WASM_SPEC = `# bvisor boundary manifest for a WASI preview 1 module. Everything not granted is denied.
bvisorVersion: "1"
workload:
  wasm:
    module: hello.wasm                     # inside the bundle
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

export function writeSpec(opts: { dir: string; wasm: boolean; force: boolean }): { path: string } {
  const dir = resolve(opts.dir);
  const path = join(dir, 'boundary.yaml');
  if (existsSync(path) && !opts.force) {
    throw new BvisorError('BV_SPEC_EXISTS', `${path} already exists`, { hint: 'pass --force to overwrite it' });
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(path, opts.wasm ? WASM_SPEC : PROCESS_SPEC, { mode: 0o644 });
  return { path };
}
