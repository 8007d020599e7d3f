import { describe, expect, it } from 'vitest';
import { readYamlStrict, clausePath, clauseSegments, writtenAt, fromEntry, type PathSegment } from '../../src/core/yaml-reader.js';

describe('strict YAML', () => {
  it('reads plain manifests to plain data', () => {
    const r = readYamlStrict('a: 1\nb: [x, "y"]\nc: { d: null, e: yes }\n', 'f.yaml');
    expect(r.issues).toEqual([]);
    // YAML 1.2 core schema: `yes` is a string, not a boolean.
    expect(r.data).toEqual({ a: 1, b: ['x', 'y'], c: { d: null, e: 'yes' } });
  });

  it('locates nested clauses by path, and keys on request', () => {
    const src = 'filesystem:\n  - { path: /usr, access: read }\n  - path: /srv\n    access: write\n';
    const r = readYamlStrict(src, 'f.yaml');
    expect(r.locate(['filesystem', 1, 'access'])).toEqual({ line: 4, col: 13 });
    expect(r.locate(['filesystem', 0, 'path'], { key: true })).toEqual({ line: 2, col: 7 });
    // A missing clause falls back to its nearest written ancestor.
    expect(r.locate(['filesystem', 1, 'recursive'])).toEqual({ line: 3, col: 5 });
  });

  it('a byte order mark (which editors do not show) is not counted in line 1\'s columns', () => {
    const text = '{ a: 1, a: 2 }\nrest: { a: [1, }\n';
    // Columns as a reader counts them in the text without the mark: the duplicate key on line 1
    // (its second `a`, column 9), and the flow error on line 2, whose column the mark does not touch.
    const plain = readYamlStrict(text, 'f.yaml');
    const marked = readYamlStrict('\ufeff' + text, 'f.yaml');
    expect(plain.issues.find((i) => i.code === 'BV_YAML_DUPLICATE_KEY')).toMatchObject({ line: 1, col: '{ a: 1, '.length + 1, message: 'duplicate key a' });
    expect(marked.issues.map((i) => [i.line, i.col])).toEqual(plain.issues.map((i) => [i.line, i.col]));
    expect(marked.issues.some((i) => i.line === 2)).toBe(true);
    const ok = readYamlStrict('\ufeffversion: 2\nx: 1\n', 'f.yaml');
    expect(ok.locate(['version'])).toEqual({ line: 1, col: 'version: '.length + 1 });
    expect(ok.locate(['version'], { key: true })).toEqual({ line: 1, col: 1 });
    expect(ok.locate(['x'])).toEqual({ line: 2, col: 'x: '.length + 1 });
  });

  it('a duplicate key is named as written, in block and flow style, quoted or not', () => {
    for (const [text, key, line] of [['limits:\n  wall: 1s\n  cpu: 1s\n  wall: 2s\n', 'wall', 4], ['env: { "A": 1, "A": 2 }\n', '"A"', 1]] as const) {
      expect(readYamlStrict(text, 'f.yaml').issues).toEqual([expect.objectContaining({ code: 'BV_YAML_DUPLICATE_KEY', message: `duplicate key ${key}`, line })]);
    }
  });

  it('refuses an alias expansion bomb without expanding it', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 8; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`);
    const t0 = Date.now();
    const r = readYamlStrict(bomb.join('\n') + '\n', 'bomb.yaml');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(r.data).toBeUndefined();
    expect(r.issues.some((i) => i.code === 'BV_YAML_ALIAS')).toBe(true);
  });

  it('refuses merge keys (they are aliases)', () => {
    const r = readYamlStrict('base: &b { x: 1 }\nother:\n  <<: *b\n', 'f.yaml');
    expect(r.issues.map((i) => i.code)).toContain('BV_YAML_ALIAS');
  });

  it('refuses boolean, null and complex keys', () => {
    for (const src of ['true: 1\n', '~: 1\n', '? [a]\n: 1\n', '1.5: x\n']) {
      const r = readYamlStrict(src, 'f.yaml');
      expect(r.issues.map((i) => i.code), src).toContain('BV_YAML_KEY_TYPE');
    }
  });

  it('renders clause paths as people write them', () => {
    expect(clausePath(['filesystem', 2, 'access'])).toBe('filesystem[2].access');
    expect(clausePath(['limits', 'wall'])).toBe('limits.wall');
    expect(clausePath([])).toBe('');
  });

  it('a read kept as its entry (data and location table, through JSON) answers as the document: data, and every locate', () => {
    const src = '# comment\nworkload:\n  process:\n    exe: /bin/sh\n    args: ["-c", \'x\']\nfilesystem:\n  - { path: /usr, access: read }\n  - path: /srv\n    access: write\n    empty:\n  - []\nlimits: { wall: 10s }\n"0": zero\n';
    const r = readYamlStrict(src, 'f.yaml');
    expect(r.issues).toEqual([]);
    const kept = fromEntry(JSON.parse(JSON.stringify(r.entry!())));
    expect(kept.data).toEqual(r.data);
    expect(kept.issues).toEqual([]);
    // Written paths, paths that go past what is written, wrong kinds of segment, and the root.
    const paths: PathSegment[][] = [[], ['workload'], ['workload', 'process', 'exe'], ['workload', 'process', 'args', 1], ['workload', 'process', 'args', 7], ['filesystem', 0, 'access'], ['filesystem', 1, 'empty'], ['filesystem', 1, 'empty', 'deeper'], ['filesystem', 2, 0], ['filesystem', '1'], ['limits', 'wall'], ['limits', 'cpu'], ['0'], [0], ['nowhere', 'at', 'all']];
    for (const p of paths) for (const key of [false, true]) expect(kept.locate(p, { key }), `${JSON.stringify(p)} key=${key}`).toEqual(r.locate(p, { key }));
    // And by hand, from the text: filesystem[1].access is on line 9; its key at col 5, its value at col 13.
    expect(kept.locate(['filesystem', 1, 'access'], { key: true })).toEqual({ line: 9, col: 5 });
    expect(kept.locate(['filesystem', 1, 'access'])).toEqual({ line: 9, col: 13 });
  });
});

describe('a plan clause found in the manifest', () => {
  it('clauseSegments inverts clausePath; a folded name is its first; a name that is no path is null', () => {
    for (const p of [['limits', 'cpu'], ['filesystem', 2, 'access'], ['env', 'TOKEN'], ['spawn']] as PathSegment[][]) expect(clauseSegments(clausePath(p))).toEqual(p);
    expect(clauseSegments('limits.cpu + process.rlimits[0]')).toEqual(['limits', 'cpu']);
    expect(clauseSegments('runner:filesystem[0]')).toBeNull();
    expect(clauseSegments('')).toBeNull();
  });

  it('writtenAt: where the value is written (line and column from the text), null for a clause left to its default', () => {
    const text = 'bvisorVersion: "1"\nspawn: descendants\nlimits: { wall: 10s, cpu: 5s }\nfilesystem:\n  - { path: /usr, access: read }\n';
    const r = readYamlStrict(text, 'b.yaml');
    const at = (needle: string): { line: number; col: number } => {
      const i = text.indexOf(needle);
      const line = text.slice(0, i).split('\n').length;
      return { line, col: i - text.lastIndexOf('\n', i - 1) };
    };
    expect(writtenAt(r, ['spawn'])).toEqual(at('descendants'));
    expect(writtenAt(r, ['limits', 'cpu'])).toEqual(at('5s'));
    expect(writtenAt(r, ['filesystem', 0, 'access'])).toEqual(at('read }'));
    expect(writtenAt(r, ['limits', 'memory'])).toBeNull();
    expect(writtenAt(r, ['network'])).toBeNull();
    expect(writtenAt(r, [])).toBeNull();
    // A read answered from a cache entry locates as the document's own.
    const cached = fromEntry(r.entry!());
    expect(writtenAt(cached, ['limits', 'cpu'])).toEqual(at('5s'));
  });
});
