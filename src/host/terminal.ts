// The caller's terminal, as a workload given it leaves it. A workload whose stdin, stdout or
// stderr (or a descriptor it is handed) is the caller's terminal, or which keeps bvisor's session
// (stdin inherited) and so can open /dev/tty, can stop the terminal's output (tcflow(TCOOFF), or
// a STOP character it makes arrive) with IXON cleared, so no key resumes it: every later write
// there blocks, bvisor's own last words and the caller's shell after it. So the launcher holds
// each such terminal from the workload's start (a descriptor of its own: the caller's numbers may
// name other files by the end) and resumes its output once none of the workload's processes is
// left, with the controlling terminal's foreground process group as it found it. The modes the
// workload set are not put back here: a program that exits may have set them on purpose (stty);
// Node puts back its own stdio's at exit, and bvisor run does when it dies by a signal
// (cli/stop-signals.ts). termios(3).
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isatty } from 'node:tty';
import { BvisorError } from '../contract/errors.js';
import { shim } from '../backends/linux/ffi/shim.js';
import { errnoName } from './facts.js';

/** What a run under way holds: its terminals' descriptors, and the controlling terminal's with
 * its foreground process group as the workload found it (resumeHeld). */
interface Held {
  fds: number[];
  controlling: { fd: number; pgrp: number } | null;
}
const held = new Set<Held>();

export interface HeldTerminals {
  /** Resumes each terminal's output and lets it go (once). Returns what failed, each naming its
   * terminal ([] when all went well). */
  resume(): string[];
}

/** Each of `fds` that is a terminal, and with `controlling` the session's controlling terminal
 * (/dev/tty), held by a descriptor of ours; null when there is none. */
export function holdTerminals(fds: readonly number[], controlling: boolean): HeldTerminals | null {
  const s = shim();
  const ours: number[] = [];
  const fail = (what: string, rc: number): never => {
    for (const d of ours) s.bv_close(d);
    throw new BvisorError('BV_IO', `${what}: ${errnoName(rc)}`, { hint: 'the workload never ran; bvisor keeps a descriptor of each terminal it gives a workload, to resume its output after' });
  };
  for (const fd of new Set(fds)) {
    if (!isatty(fd)) continue;
    const d = s.bv_dup(fd);
    if (d < 0) fail(`duplicate the terminal on fd ${fd}`, d);
    ours.push(d);
  }
  let ctl: Held['controlling'] = null;
  if (controlling) {
    // O_NONBLOCK: a serial line without carrier would otherwise hold the open (and the loop).
    const t = s.bv_open('/dev/tty', fsConstants.O_RDWR | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK, 0);
    // ENXIO: the session has no controlling terminal, and the workload none to open either.
    if (t >= 0) {
      ours.push(t);
      // A workload in bvisor's session may make a group of its own the terminal's foreground
      // (tcsetpgrp) and end: the caller's next read there then fails. Its foreground goes back.
      const pgrp = s.bv_tty_pgrp(t);
      if (pgrp < 0) fail('tcgetpgrp(/dev/tty)', pgrp);
      // 0: no foreground group now, none to put back.
      if (pgrp > 0) ctl = { fd: t, pgrp };
    } else if (t !== -osConstants.errno.ENXIO) fail('open /dev/tty', t);
  }
  if (ours.length === 0) return null;
  const h: Held = { fds: ours, controlling: ctl };
  held.add(h);
  let done = false;
  return {
    resume(): string[] {
      if (done) return [];
      done = true;
      held.delete(h);
      const failed = resumeEach(h);
      for (const d of ours) s.bv_close(d);
      return failed;
    },
  };
}

/** Resumes what a launch held (none: nothing) once `whose` processes are gone; what could not be
 * resumed is said as a warning, naming the terminal's user ("the workload", "the process"). */
export function letTerminalsGo(held: HeldTerminals | null, whose: string): void {
  const unresumed = held?.resume() ?? [];
  if (unresumed.length) process.emitWarning(`bvisor: the output of the terminal ${whose} was given could not be resumed: ${unresumed.join('; ')}`);
}

function resumeEach(h: Held): string[] {
  const s = shim();
  const failed: string[] = [];
  for (const fd of h.fds) {
    const rc = s.bv_tty_resume(fd);
    if (rc < 0) failed.push(`tcflow(TCOON): ${errnoName(rc)}`);
  }
  if (h.controlling) {
    const { fd, pgrp } = h.controlling;
    const now = s.bv_tty_pgrp(fd);
    const rc = now < 0 ? now : now === pgrp ? 0 : s.bv_tty_set_pgrp(fd, pgrp);
    if (rc < 0) failed.push(`the foreground process group back to ${pgrp} (tcsetpgrp): ${errnoName(rc)}`);
  }
  return failed;
}

/** The output of every terminal a run under way holds resumed (and the controlling one's
 * foreground group put back): for a bvisor about to die by a signal, which runs no launcher's end. */
export function resumeHeld(): void {
  for (const h of held) resumeEach(h);
}

/** The modes of each of `fds` that is a terminal, to put back with the returned function (null:
 * none is a terminal). Errors are the caller's to say. */
export function saveModes(fds: readonly number[]): (() => string[]) | null {
  const ttys = fds.filter((fd) => isatty(fd));
  if (ttys.length === 0) return null;
  const s = shim();
  const size = s.bv_termios_size();
  const saved = ttys.map((fd) => {
    const modes = new Uint8Array(size);
    return { fd, modes, rc: s.bv_tty_get(fd, modes) };
  });
  return () => {
    const failed: string[] = [];
    for (const t of saved) {
      const rc = t.rc < 0 ? t.rc : s.bv_tty_set(t.fd, t.modes);
      if (rc < 0) failed.push(`fd ${t.fd}: ${t.rc < 0 ? 'tcgetattr' : 'tcsetattr'}: ${errnoName(rc)}`);
    }
    return failed;
  };
}
