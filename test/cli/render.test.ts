// Text from a bundle (paths, names) reaches the caller's terminal through tables and error
// blocks: control characters are shown as \xNN, never sent raw (an escape sequence could clear
// the screen or forge a row of the plan table).
import { describe, expect, it } from 'vitest';
import { renderError, rootedHints, rootedText, table, visible, outcomeErrorLine, capabilityLine } from '../../src/cli/render.js';
import { BvisorError } from '../../src/contract/errors.js';

describe('rendering for people', () => {
  it('shows control characters instead of sending them', () => {
    expect(visible('a\u001b[2Jb\nc\u007f')).toBe('a\\x1b[2Jb\\x0ac\\x7f');
    const e = new BvisorError('BV_PLAN_REFUSED', 'x\u001b[2J', { issues: [{ code: 'BV_PLAN_PATH_MISSING', clause: 'filesystem[0]', message: '/tmp/a\nfilesystem[1]  enforced  fake' }] });
    const text = renderError(e) + table(['a'], [['\u001b[31mred']]);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect(text.split('\n').filter((l) => l.includes('fake'))).toHaveLength(1);
  });

  it('a lone issue the message already says is not said twice; its hint is kept', () => {
    const issue = { code: 'BV_SCHEMA' as const, clause: '--user.uid', message: 'uid 1000 inside the container', hint: 'run as uid 0' };
    expect(renderError(new BvisorError('BV_USAGE', 'exec: --user.uid: uid 1000 inside the container', { hint: 'run as uid 0', issues: [issue] }))).toBe('bvisor: error BV_USAGE: exec: --user.uid: uid 1000 inside the container\nhint: run as uid 0');
    // Two, or one the message does not say: listed.
    expect(renderError(new BvisorError('BV_USAGE', 'exec: 2 problems, first --user.uid: uid 1000 inside the container', { hint: 'run as uid 0', issues: [issue, { ...issue, clause: '--cwd' }] })).split('\n')).toHaveLength(5);
    expect(renderError(new BvisorError('BV_USAGE', 'exec: something else', { issues: [issue] })).split('\n')).toEqual(['bvisor: error BV_USAGE: exec: something else', '  --user.uid: uid 1000 inside the container [BV_SCHEMA]', '    hint: run as uid 0']);
  });

  // A run whose outcome is bvisor's error after the launch exited 125 with nothing on stderr.
  it('says a report\'s error outcome on stderr, escaped, and nothing for any other outcome', () => {
    expect(outcomeErrorLine({ status: 'error', error: { code: 'BV_WASM_RUNNER', message: 'the runner exited without an outcome\u001b[2J' } }, 'w1')).toBe('bvisor: error BV_WASM_RUNNER: the runner exited without an outcome\\x1b[2J\nhint: the report has it too: bvisor report w1');
    expect(outcomeErrorLine({ status: 'completed' }, 'w1')).toBeNull();
    expect(outcomeErrorLine({ status: 'failed', error: null }, 'w1')).toBeNull();
  });

  it("aims a hint's bvisor commands at the --root the command was given, quoted for a shell; the default root's hints stay as they are", () => {
    const e = new BvisorError('BV_CONTAINER_EXISTS', 'container c1 already exists', { hint: 'choose another id, or remove it with bvisor delete -f c1', issues: [{ code: 'BV_SCHEMA', clause: '', message: 'm', hint: 'stop it first (bvisor kill c1 KILL)' }] });
    const r = rootedHints(e, '/srv/roots/a', '/run/bvisor');
    expect([r.code, r.message, r.hint, r.issues[0]!.hint]).toEqual(['BV_CONTAINER_EXISTS', e.message, 'choose another id, or remove it with bvisor --root /srv/roots/a delete -f c1', 'stop it first (bvisor --root /srv/roots/a kill c1 KILL)']);
    expect(rootedHints(e, "/srv/it's here", '/run/bvisor').hint).toBe("choose another id, or remove it with bvisor --root '/srv/it'\\''s here' delete -f c1");
    expect(rootedHints(e, '/run/bvisor/', '/run/bvisor')).toBe(e);
    expect(rootedHints(e, undefined, '/run/bvisor')).toBe(e);
    const plain = new BvisorError('BV_IO', 'x', { hint: 'check its permissions' });
    expect(rootedHints(plain, '/srv/roots/a', '/run/bvisor')).toBe(plain);
    // Prose that names a command is left alone; only what the user is told to run is aimed.
    for (const prose of ['wait for a bvisor run still setting up', 'made by bvisor create', 'its bvisor run (pid 7) did not stop', 'the bvisor delete that removed it']) expect(rootedText(prose, '/r', '/run/bvisor')).toBe(prose);
    expect(rootedText('then bvisor report x', '/r', '/run/bvisor')).toBe('then bvisor --root /r report x');
    // run's line for bvisor's own failure after the launch takes the same aim.
    const line = outcomeErrorLine({ status: 'error', error: { code: 'BV_INTERNAL', message: 'm' } }, 'c1', (e) => rootedHints(e, '/r', '/run/bvisor'));
    expect(line).toContain('hint: the report has it too: bvisor --root /r report c1');
  });
});

describe('check\'s capabilities line', () => {
  // Bit numbers from capabilities(7): CAP_SYS_RESOURCE is 24, CAP_CHECKPOINT_RESTORE (the 41st) 40.
  const names = (hex: string): string[] => [...BigInt(`0x${hex}`).toString(2)].reverse().flatMap((b, i) => (b === '1' ? [`cap${i}`] : []));
  it('says what a nearly full set lacks, by name, rather than "all"', () => {
    expect(capabilityLine({ effective: '000001fffeffffff', names: names('000001fffeffffff') })).toBe('all but CAP_SYS_RESOURCE (40 of 41)');
    expect(capabilityLine({ effective: '000001ffffffffff', names: names('000001ffffffffff') })).toBe('all (41)');
  });
  it('names a small set, and says none for none', () => {
    expect(capabilityLine({ effective: '0000000000000401', names: ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE'] })).toBe('CAP_CHOWN CAP_NET_BIND_SERVICE');
    expect(capabilityLine({ effective: '0000000000000000', names: [] })).toBe('none');
  });
});
