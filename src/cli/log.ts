// --log <file> / --log-format text|json / --debug, as runc takes them. Log lines never carry
// secret values: callers log references and decisions, not the resolved environment.
import { appendFileSync } from 'node:fs';

export interface LogOptions {
  file: string | null;
  format: 'text' | 'json';
  debug: boolean;
}

export class Logger {
  constructor(private readonly opts: LogOptions) {}

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
