// Workload text printed on the caller's terminal (the denial summary, bvisor report, errors):
// nothing in it may act as a terminal control. Expected escapes from the standards: ECMA-48's C0
// (0x00–0x1F, DEL) and C1 (0x80–0x9F: 0x9B is CSI, 0x9D OSC, 0x9C ST) control sets, and
// Unicode's format characters (U+202E RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE) and
// separators (U+2028).
import { describe, expect, it } from 'vitest';
import { visible } from '../../src/core/visible.js';
import { denialSummary } from '../../src/core/denials.js';
import { sampleBody } from '../helpers/sample-report.js';

describe('visible', () => {
  it('escapes C0, DEL and C1 controls (ESC, CSI, OSC, ST), bidi and zero-width format characters, and U+2028', () => {
    expect(visible('a\x1b[2Jb')).toBe('a\\x1b[2Jb');
    expect(visible('\x7f')).toBe('\\x7f');
    expect(visible('x\u009b2J\u009d0;T\u009c')).toBe('x\\x9b2J\\x9d0;T\\x9c');
    expect(visible('gnp.\u202eexe')).toBe('gnp.\\u{202e}exe');
    expect(visible('a\u200bb\u2028c')).toBe('a\\u{200b}b\\u{2028}c');
    expect(visible('bad\ufffd')).toBe('bad\\u{fffd}');
  });

  it('a hostile path in a denial reaches the summary escaped: no C1 or bidi control is printed raw', () => {
    const body = sampleBody();
    body.outcome = { status: 'failed', reason: 'exit', exitCode: 1, signal: null };
    const what = 'mount(0x1, "/x\u009b2J\u009d0;PWN\u009c\u202egnp.exe", "tmpfs", 0x0)';
    body.denials = {
      sources: { seccomp: { observed: true, how: 'seccomp:user-notif', notObserved: null }, landlock: { observed: true, how: 'test', notObserved: null }, budgets: { observed: true, how: 'test', notObserved: null } },
      items: [{ kind: 'syscall', clause: 'syscalls', what, rule: 'changes the filesystem view', errno: 'EPERM', observedBy: 'seccomp:user-notif', allow: null, warning: null, count: 1, atMs: 1, pid: 7, path: null, port: null, signal: null }],
      total: 1,
      truncated: false,
    };
    const text = denialSummary(body, { id: 'r' }).join('\n');
    expect(text).toContain('\\x9b2J\\x9d0;PWN\\x9c\\u{202e}gnp.exe');
    expect(text).not.toMatch(/[\u0080-\u009f\u202e]/);
  });

  it('leaves printable text alone, ASCII or not', () => {
    expect(visible('/srv/données/日本/файл → ok…')).toBe('/srv/données/日本/файл → ok…');
  });
});
