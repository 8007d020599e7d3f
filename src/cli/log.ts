// --log <file> / --log-format text|json / --debug, as runc takes them. Log lines never carry
// secret values: callers log references and decisions, not the resolved environment.
import { appendFileSync, openSync, closeSync } from 'node:fs';
import { BvisorError } from '../contract/errors.js';

export interface LogOptions {
  file: string | null;
  format: 'text' | 'json';
  debug: boolean;
}

export class Logger {
  constructor(private readonly opts: LogOptions) {}

  /** Opens the log file once, so a log that cannot be written is said at start, not lost. */
  check(): void {
    if (!this.opts.file) return;
    try {
      closeSync(openSync(this.opts.file, 'a', 0o600));
    } catch (e) {
      throw new BvisorError('BV_USAGE', `cannot write the log file ${this.opts.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'pass --log a file in an existing, writable directory' });
    }
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
    if (level === 'debug' && !this.opts.debug) return;
    const time = new Date().toISOString();
    const line =
      this.opts.format === 'json'
        ? JSON.stringify({ time, level, msg, ...fields })
        : `${time} ${level} ${msg}${Object.keys(fields).length ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : ''}`;
    if (this.opts.file) appendFileSync(this.opts.file, line + '\n', { mode: 0o600 });
    else if (this.opts.debug) process.stderr.write(line + '\n');
  }
}
