// A pseudo-terminal harness (python3's pty support): runs a command as the controlling terminal's
// session leader and reads, from the master's side, what a workload given that terminal left:
// whether the command ended at all, what reached the terminal, whether a non-blocking write to
// the slave is taken (a stopped terminal answers EAGAIN), and the slave's modes (termios(3)).
/**
 * A command (argv) run in a session of its own whose controlling terminal is a fresh pty (stdin /dev/null
 * with NULL_STDIN). Once the workload has printed "stopped", the harness types the STOP
 * character (STOP_CHAR) and sends bvisor SIGINT (INTERRUPT times, 2 ms apart) or SIGQUIT (QUIT).
 * With SH_READ, bvisor runs under `sh -c` (no job control: one process group for both), which
 * then reads a line the harness types at the terminal and says whether it could.
 * No core file is written (RLIMIT_CORE 0).
 */
export const PTY_HARNESS = [
  'import os, sys, fcntl, termios, json, select, time, signal, resource',
  'm, s = os.openpty()',
  'before = termios.tcgetattr(s)',
  'pid = os.fork()',
  'if pid == 0:',
  '    os.setsid(); fcntl.ioctl(s, termios.TIOCSCTTY, 0)',
  '    for fd in (0, 1, 2): os.dup2(s, fd)',
  '    if os.environ.get("NULL_STDIN"): os.dup2(os.open("/dev/null", os.O_RDONLY), 0)',
  '    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))',
  '    os.close(m); os.close(s)',
  '    if os.environ.get("SH_READ"): os.execv("/bin/sh", ["sh", "-c", "\\"$@\\"; st=$?; echo bvisor-exited; if read x; then echo read-ok; else echo read-failed; fi; exit $st", "sh"] + sys.argv[1:])',
  '    os.execv(sys.argv[1], sys.argv[1:])',
  'out = b""; status = None; wedged = False; deadline = time.time() + 30; acted = False; typed = False',
  'while True:',
  '    r, _, _ = select.select([m], [], [], 0.1)',
  '    if r:',
  '        try: out += os.read(m, 65536)',
  '        except OSError: pass',
  '    if not acted and b"stopped" in out:',
  '        acted = True',
  '        if os.environ.get("STOP_CHAR"): os.write(m, b"\\x13")',
  // The workload says "stopped" before its tcflow(TCOOFF): a signal sent at once could be answered
  // (the terminal resumed) before the stop, which would then outlive bvisor (seen once in CI,
  // under load). So a signal waits until the terminal refuses a non-blocking write (at most 2 s;
  // a NUL may pass). Only a signal: a workload that ends at once is resumed by bvisor at its end,
  // and a probe there could miss the stop and spin (seen in CI too).
  '        if os.environ.get("INTERRUPT") or os.environ.get("QUIT"):',
  '            fl = fcntl.fcntl(s, fcntl.F_GETFL); fcntl.fcntl(s, fcntl.F_SETFL, fl | os.O_NONBLOCK)',
  '            for _ in range(1000):',
  '                try: os.write(s, b"\\0")',
  '                except BlockingIOError: break',
  '                time.sleep(0.002)',
  '            fcntl.fcntl(s, fcntl.F_SETFL, fl)',
  '        for i in range(int(os.environ.get("INTERRUPT", "0"))): os.kill(pid, signal.SIGINT); time.sleep(0.002)',
  '        if os.environ.get("QUIT"): os.kill(pid, signal.SIGQUIT)',
  '    if b"bvisor-exited" in out and not typed: os.write(m, b"hello\\n"); typed = True',
  '    if status is None:',
  '        p, st = os.waitpid(pid, os.WNOHANG)',
  '        if p: status = st; deadline = time.time() + 1',
  '    if time.time() > deadline:',
  '        if status is None: wedged = True; os.kill(pid, signal.SIGKILL); _, status = os.waitpid(pid, 0)',
  '        break',
  'after = termios.tcgetattr(s)',
  'fcntl.fcntl(s, fcntl.F_SETFL, fcntl.fcntl(s, fcntl.F_GETFL) | os.O_NONBLOCK)',
  'try: os.write(s, b"."); writable = True',
  'except BlockingIOError: writable = False',
  'flags = lambda t: {"IXON": bool(t[0] & termios.IXON), "ICANON": bool(t[3] & termios.ICANON), "ECHO": bool(t[3] & termios.ECHO), "ISIG": bool(t[3] & termios.ISIG)}',
  'sys.stdout.write(json.dumps({"wedged": wedged, "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None, "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, "out": out.decode("utf8", "replace"), "before": flags(before), "after": flags(after), "writable": writable}) + "\\n")',
].join('\n');

/** What the harness prints (its last line, JSON). */
export interface Seen {
  wedged: boolean;
  code: number | null;
  signal: number | null;
  out: string;
  before: Record<string, boolean>;
  after: Record<string, boolean>;
  writable: boolean;
}
