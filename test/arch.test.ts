// Architecture: pure folders (src/contract, src/core, src/backends/*/lower.ts) import no node:*,
// koffi, @oclif/*, tar, and nothing outside the pure set, and do not read the clock, the
// environment or randomness. koffi is imported by exactly one file. The checker is tested on
// a synthetic bad file first, so a broken checker cannot pass silently.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { builtinModules } from 'node:module';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '..', 'src');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function isPure(file: string): boolean {
  const r = relative(SRC, file);
  return r.startsWith('contract/') || r.startsWith('core/') || /^backends\/[^/]+\/lower\.ts$/.test(r);
}

const FORBIDDEN_MODULES = (spec: string): boolean =>
  spec.startsWith('node:') || builtinModules.includes(spec) || spec === 'koffi' || spec.startsWith('@oclif/') || spec === 'tar';
const FORBIDDEN_CALLS = [/\bprocess\./, /\bDate\.now\(/, /\bnew Date\(/, /\bMath\.random\(/, /\bperformance\.now\(/, /\brequire\(/, /\bcrypto\./, /\bglobalThis\./];

export function violations(file: string, text: string, pure: (abs: string) => boolean = isPure): string[] {
  const out: string[] = [];
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const specs: string[] = [];
  sf.forEachChild(function visit(n) {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      if (!(ts.isImportDeclaration(n) && n.importClause?.isTypeOnly)) specs.push(n.moduleSpecifier.text);
    }
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) specs.push('dynamic import()');
    n.forEachChild(visit);
  });
  for (const s of specs) {
    if (s === 'dynamic import()' || FORBIDDEN_MODULES(s)) out.push(`${file}: imports ${s}`);
    else if (s.startsWith('.')) {
      const target = resolve(dirname(file), s.replace(/\.js$/, '.ts'));
      if (!pure(target) && !target.includes('/contract/generated/')) out.push(`${file}: imports non-pure ${relative(SRC, target)}`);
    }
  }
  // Strip comments and strings before looking for clock/env/randomness.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '').replace(/'(?:\\.|[^'\\])*'|`(?:\\.|[^`\\])*`/g, "''");
  for (const re of FORBIDDEN_CALLS) if (re.test(code)) out.push(`${file}: uses ${re.source}`);
  return out;
}

describe('architecture', () => {
  it('the checker catches a bad pure file (red twin)', () => {
    const bad = "import { readFileSync } from 'node:fs';\nimport { x } from '../host/facts.js';\nexport const t = Date.now() + Math.random();\nconst e = process.env.X;\n";
    const v = violations(join(SRC, 'core', 'bad.ts'), bad);
    expect(v.join('\n')).toMatch(/imports node:fs/);
    expect(v.join('\n')).toMatch(/non-pure host\/facts\.ts/);
    expect(v.join('\n')).toMatch(/Date\\.now/);
    expect(v.join('\n')).toMatch(/process/);
    expect(violations(join(SRC, 'core', 'ok.ts'), "import type { X } from 'node:fs';\nimport { y } from './units.js';\n// Date.now() in a comment\n")).toEqual([]);
  });

  it('pure folders import nothing impure and read no clock, env or randomness', () => {
    const files = walk(SRC).filter(isPure).filter((f) => !f.includes('/generated/'));
    expect(files.length).toBeGreaterThan(8);
    const all = files.flatMap((f) => violations(f, readFileSync(f, 'utf8')));
    expect(all).toEqual([]);
  });

  it('exactly one file imports koffi', () => {
    const users = walk(SRC).filter((f) => /(require\(|lateRequire\(|from |import\()\s*['"]koffi['"]/.test(readFileSync(f, 'utf8')));
    expect(users.map((f) => relative(SRC, f))).toEqual(['backends/linux/ffi/shim.ts']);
  });

  it('no module loads another at run time by import() or require(): the start-up snapshot has neither (docs/startup.md)', () => {
    // A dynamic import() in the snapshot fails with "A dynamic import callback was not
    // specified"; a require() of our own module would load a second copy from dist/. What must
    // load late (koffi, tar) goes through lateRequire (backends/linux/ffi/runtime.ts).
    const users = walk(SRC)
      .filter((f) => !f.includes('/generated/'))
      .filter((f) => /(?<![\w.])(await import\(|import\([^)]*\)\.then|require\(\s*['"])/.test(readFileSync(f, 'utf8').replace(/^\s*\/\/.*$/gm, '')));
    expect(users.map((f) => relative(SRC, f))).toEqual([]);
  });
  /** The modules and packages a snapshot entry's graph loads (value imports, walked from `entry`). */
  function graphOf(entry: string): { files: string[]; packages: Set<string> } {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
      sf.forEachChild((n) => {
        if (!((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier))) return;
        if (ts.isImportDeclaration(n) && n.importClause?.isTypeOnly) return;
        if (ts.isExportDeclaration(n) && n.isTypeOnly) return;
        const spec = n.moduleSpecifier.text;
        if (!spec.startsWith('.')) return void packages.add(spec);
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        // A module whose every import is `type` only at this site is still loaded if any binding is a value.
        const clause = ts.isImportDeclaration(n) ? n.importClause : null;
        const bindings = clause?.namedBindings;
        if (clause && !clause.name && bindings && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly)) return;
        // The generated validators are JavaScript (ajv standalone), requiring only ajv's runtime.
        if (!existsSync(target) && existsSync(target.replace(/\.ts$/, '.js'))) return void seen.add(target.replace(/\.ts$/, '.js'));
        visit(target);
      });
    };
    visit(entry);
    return { files: [...seen].map((f) => relative(SRC, f)), packages };
  }

  // The lifecycle commands' start-up snapshot (src/cli/snapshot-lifecycle.ts, docs/startup.md)
  // is smaller than bvisor.blob because its graph holds none of what reads a bundle, plans or
  // launches: one import edge (a helper imported from the wrong module) would bring them back
  // and nothing else would notice. Oracle: the import graph, walked from the entry.
  it("the lifecycle snapshot's graph holds no bundle reader, manifest parser, yaml, planner or launcher", () => {
    const { files: graph, packages } = graphOf(join(SRC, 'cli', 'snapshot-lifecycle.ts'));
    expect(graph).toContain('app/lifecycle.ts'); // the walk reached the commands
    expect(graph).toContain('commands/delete.ts');
    const heavy = ['host/bundle.ts', 'core/manifest.ts', 'core/yaml-reader.ts', 'core/planner.ts', 'core/features.ts', 'core/learn.ts', 'backends/linux/launcher.ts', 'app/create.ts', 'app/run.ts', 'app/wasm.ts', 'core/wasm/fuel.ts'];
    expect(graph.filter((f) => heavy.includes(f) || f.startsWith('core/oci/'))).toEqual([]);
    expect([...packages].filter((p) => p === 'yaml' || p === 'tar')).toEqual([]);
    // Only the records' validators (the full set, reports and command outputs included, is the tests').
    expect(graph.filter((f) => f.startsWith('contract/generated/validators'))).toEqual(['contract/generated/validators-records.js']);
    // The full graph does hold them (the walk would find them: red twin of the walk).
    const { files: full, packages: fullPackages } = graphOf(join(SRC, 'cli', 'snapshot.ts'));
    expect(heavy.filter((f) => !full.includes(f))).toEqual([]);
    expect(fullPackages.has('yaml')).toBe(true);
    expect(full.filter((f) => f.startsWith('contract/generated/validators')).sort()).toEqual(['contract/generated/validators-manifest.js', 'contract/generated/validators-records.js']);
  });

  // The launching commands' snapshot (src/cli/snapshot-launch.ts: run, create, exec) is smaller
  // than bvisor.blob because its graph holds none of the other commands: one import edge (a
  // command's module imported for a helper) would bring them back. Oracle: the import graph.
  it("the launch snapshot's graph holds run, create and exec, and none of the other commands or their own modules", () => {
    const { files: graph } = graphOf(join(SRC, 'cli', 'snapshot-launch.ts'));
    for (const f of ['commands/run.ts', 'commands/create.ts', 'commands/exec.ts', 'backends/linux/launcher.ts', 'core/planner.ts', 'core/wasm/fuel.ts']) expect(graph, f).toContain(f);
    const others = ['check', 'spec', 'validate', 'plan', 'learn', 'recover', 'commit', 'discard', 'journal/verify', 'start', 'state', 'kill', 'delete', 'list', 'report', 'gc', 'features', 'ps', 'pause', 'resume', 'events', 'update', 'index', 'lifecycle-index'].map((c) => `commands/${c}.ts`);
    const theirs = ['app/check.ts', 'app/spec.ts', 'app/plan.ts', 'app/learn.ts', 'app/journal.ts', 'app/recover.ts', 'app/gc.ts', 'core/learn.ts'];
    expect(graph.filter((f) => others.includes(f) || theirs.includes(f))).toEqual([]);
    // The full graph does hold them (red twin of the walk).
    const { files: full } = graphOf(join(SRC, 'cli', 'snapshot.ts'));
    expect([...others, ...theirs].filter((f) => !full.includes(f))).toEqual([]);
  });
});
