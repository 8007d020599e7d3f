// Signal names and numbers (Linux, x86_64 and aarch64 agree on these).
export const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13,
  ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25,
  VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, PWR: 30, SYS: 31,
};

export function signalName(n: number): string {
  const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
  return name ? `SIG${name}` : `SIG${n}`;
}

/** "TERM", "SIGTERM", "15" → 15; null when not a signal. */
export function parseSignal(text: string): number | null {
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    return n >= 1 && n <= 64 ? n : null;
  }
  const name = text.toUpperCase().replace(/^SIG/, '');
  return SIGNALS[name] ?? null;
}
