// The command line as bvisor reads it (src/cli/argv.ts): global flags before the command, or
// between a topic's two words, moved after it; `help [COMMAND]`; an exec'd program's arguments
// kept from oclif (a `--` before the program), so that its own --help or --json is the program's.
import { describe, expect, it } from 'vitest';
import { hoistGlobals, splitExecArgv } from '../../src/cli/argv.js';

describe('hoistGlobals', () => {
  it('moves global flags after the command, before any --', () => {
    expect(hoistGlobals(['--root', '/r', '--debug', 'state', 'x'])).toEqual(['state', 'x', '--root', '/r', '--debug']);
    expect(hoistGlobals(['--json', 'list'])).toEqual(['list', '--json']);
    expect(hoistGlobals(['--root=/r', 'run', 'x', '--', 'y'])).toEqual(['run', 'x', '--root=/r', '--', 'y']);
    // A value that is a command's name stays a value.
    expect(hoistGlobals(['--root', 'help', 'list'])).toEqual(['list', '--root', 'help']);
  });

  it('a topic\'s two words stay together, globals between them moved after', () => {
    expect(hoistGlobals(['journal', '--root', '/r', 'verify'])).toEqual(['journal', 'verify', '--root', '/r']);
    expect(hoistGlobals(['--root', '/r', 'journal', '--json', 'verify', '--key', 'k'])).toEqual(['journal', 'verify', '--key', 'k', '--root', '/r', '--json']);
    expect(hoistGlobals(['journal', '--root', 'verify'])).toEqual(['journal', '--root', 'verify']);
  });

  it('help [COMMAND] is the command\'s --help, before any --', () => {
    expect(hoistGlobals(['help'])).toEqual(['--help']);
    expect(hoistGlobals(['help', 'journal', 'verify'])).toEqual(['journal', 'verify', '--help']);
    expect(hoistGlobals(['--root', '/r', 'help', 'run'])).toEqual(['run', '--root', '/r', '--help']);
    const h = hoistGlobals(['help', 'exec', '--', 'ID', 'sh']);
    expect(h.indexOf('--help')).toBeLessThan(h.indexOf('--'));
  });

  it('exec: globals right after exec, and a -- before the program so its flags are its own', () => {
    expect(hoistGlobals(['--root', '/r', 'exec', '-e', 'A=1', 'ID', 'ls', '--help'])).toEqual(['exec', '--root', '/r', '-e', 'A=1', 'ID', '--', 'ls', '--help']);
    expect(hoistGlobals(['exec', 'ID', 'prog', '--json'])).toEqual(['exec', 'ID', '--', 'prog', '--json']);
    // The user's own --, or no program (--process): as written.
    expect(hoistGlobals(['exec', '--', 'ID', 'prog', '--help'])).toEqual(['exec', '--', 'ID', 'prog', '--help']);
    expect(hoistGlobals(['exec', '--process', 'p.json', 'ID'])).toEqual(['exec', '--process', 'p.json', 'ID']);
    // exec reads back what the hoisting made: the program after the --.
    const [, ...rest] = hoistGlobals(['exec', 'ID', 'sh', '-c', 'x --json']);
    expect(splitExecArgv(rest)).toEqual({ head: ['ID'], command: ['sh', '-c', 'x --json'] });
  });
});
