#!/usr/bin/env node
// bvisor entry point. Global flags are accepted before the command, as container engines call
// runc (`bvisor --root /x state id`): oclif parses flags after the command id, so they are moved
// there first. Nothing else happens here.
'use strict';

const GLOBAL_WITH_VALUE = new Set(['--root', '--log', '--log-format', '--cgroup-parent', '--journal-key']);
const GLOBAL_BOOL = new Set(['--debug']);

function hoistGlobals(argv) {
  const globals = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i];
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (GLOBAL_WITH_VALUE.has(name)) {
      if (a.includes('=')) { globals.push(a); i += 1; }
      else { globals.push(a, argv[i + 1]); i += 2; }
    } else if (GLOBAL_BOOL.has(a)) { globals.push(a); i += 1; }
    else break;
  }
  if (globals.length === 0) return argv;
  const rest = argv.slice(i);
  const dd = rest.indexOf('--');
  // exec's argv after the container id is the process's own: its globals go right after `exec`.
  if (rest[0] === 'exec') return [rest[0], ...globals.filter((g) => g !== undefined), ...rest.slice(1)];
  return dd < 0 ? [...rest, ...globals.filter((g) => g !== undefined)] : [...rest.slice(0, dd), ...globals, ...rest.slice(dd)];
}

const { execute } = require('@oclif/core');
execute({ dir: __dirname, args: hoistGlobals(process.argv.slice(2)) });
