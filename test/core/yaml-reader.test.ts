import { describe, expect, it } from 'vitest';
import { readYamlStrict, clausePath } from '../../src/core/yaml-reader.js';

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
});
