// Strict YAML for manifests. YAML is a big language; a boundary manifest needs a small part of
// it. We refuse what can hide meaning or cost: duplicate keys (which one wins?), anchors and
// aliases (sharing and expansion bombs), explicit or custom tags (type coercion), non-string
// keys (`1:`, `true:`, `? [a]`), and more than one document. Every issue keeps line:col, and
// the returned locator maps a clause path back to where it is written.
import { LineCounter, parseAllDocuments, visit, isScalar, isMap, isSeq, isPair, isAlias } from 'yaml';
import type { Document, Node as YamlNode, Pair } from 'yaml';
import type { Issue } from '../contract/errors.js';
import { clausesOf } from './clause-name.js';

export type PathSegment = string | number;

export interface Located {
  line: number;
  col: number;
}

export interface YamlReadResult {
  /** The plain data, or undefined when there were issues. */
  data: unknown;
  issues: Issue[];
  /** Finds where a clause is written; falls back to the nearest written ancestor. */
  locate(path: readonly PathSegment[], opts?: { key?: boolean }): Located;
  /** A document read without issues, as plain data to keep (ParsedEntry): a fresh copy of its
   * data and where each of its nodes is written. */
  entry?(): ParsedEntry;
}

/**
 * Where a document's nodes are written: one row per node reached through mappings (string keys)
 * and sequences (indices), its path as JSON, then the line and column of its value and of its
 * key (a sequence item's, or the document's, are its value's). The root's path is [].
 */
export type LocationTable = Array<[path: string, line: number, col: number, keyLine: number, keyCol: number]>;

/** What a read without issues comes down to: what fromEntry needs to answer as the read did. */
export interface ParsedEntry {
  data: unknown;
  table: LocationTable;
}

/**
 * A read answered from a ParsedEntry (a cache of an earlier read of the same bytes): the same
 * data, no issues, and locate() as the document's own, from its table.
 */
export function fromEntry(e: ParsedEntry): YamlReadResult {
  const rows = new Map(e.table.map((r) => [r[0], r]));
  const locate = (path: readonly PathSegment[], opts: { key?: boolean } = {}): Located => {
    // As the document's own: down as far as the path is written, the deepest value found (or,
    // for the last segment with opts.key, where its key is written).
    const root = rows.get('[]');
    let best: Located = root ? { line: root[1], col: root[2] } : { line: 1, col: 1 };
    for (let i = 1; i <= path.length; i++) {
      const row = rows.get(JSON.stringify(path.slice(0, i)));
      if (!row) break;
      if (i === path.length && opts.key) return { line: row[3], col: row[4] };
      best = { line: row[1], col: row[2] };
    }
    return best;
  };
  return { data: e.data, issues: [], locate };
}

/**
 * The path a plan's clause name stands for (clausePath's inverse: "filesystem[2].access"); of a
 * folded name ("a + b") its first. null for one that is not a manifest path ("runner:…").
 */
export function clauseSegments(clause: string): PathSegment[] | null {
  const first = clausesOf(clause)[0]!.trim();
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+|\[[0-9]+\])*$/.test(first)) return null;
  const out: PathSegment[] = [];
  for (const m of first.matchAll(/([A-Za-z0-9_-]+)|\[([0-9]+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/** Where a clause is written, or null where the document does not write it (a default: locate
 * would answer its nearest written ancestor's place). */
export function writtenAt(read: Pick<YamlReadResult, 'locate'>, path: readonly PathSegment[]): Located | null {
  if (path.length === 0) return null;
  const at = read.locate(path);
  const up = read.locate(path.slice(0, -1));
  return at.line === up.line && at.col === up.col ? null : at;
}

/** Renders a path as people write it: filesystem[2].access */
export function clausePath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/**
 * The reader's own code, as the running bvisor has it: what a kept read (ParsedEntry) was made
 * by. A cache keys its entries by it too, so that a reader that checks or records anything new
 * never answers from an entry an older one made.
 */
export function readerCode(): string {
  return `${readYaml.toString()}\n${fromEntry.toString()}`;
}

export function readYamlStrict(source: string, file: string): YamlReadResult {
  try {
    return readYaml(source, file);
  } catch (e) {
    // Walking a deeply nested document (the parser, the checks below) can exhaust the stack.
    if (!(e instanceof RangeError)) throw e;
    const tooDeep: Issue = { code: 'BV_YAML_SYNTAX', clause: '', message: TOO_DEEP, hint: 'a manifest is a few levels deep', file, line: 1, col: 1 };
    return { data: undefined, issues: [tooDeep], locate: () => ({ line: 1, col: 1 }) };
  }
}

function readYaml(source: string, file: string): YamlReadResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(source, {
    uniqueKeys: true,
    merge: false,
    strict: true,
    schema: 'core',
    lineCounter,
    prettyErrors: false,
  });
  const issues: Issue[] = [];
  // A byte order mark (YAML 1.2 allows one at the start) is a character of line 1 to the parser's
  // offsets, and nothing an editor shows: columns on that line are counted without it.
  const bom = source.charCodeAt(0) === 0xfeff ? 1 : 0;
  const at = (offset: number | undefined): Located => {
    if (offset === undefined) return { line: 1, col: 1 };
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.line === 1 ? Math.max(1, p.col - bom) : p.col };
  };
  const push = (code: Issue['code'], offset: number | undefined, clause: string, message: string, hint?: string): void => {
    const { line, col } = at(offset);
    issues.push({ code, clause, message, hint: hint ?? null, file, line, col });
  };

  // parseAllDocuments returns an EmptyStream for empty input; treat it as an empty document.
  const list = Array.isArray(docs) ? docs : [];
  if (list.length > 1) {
    push('BV_YAML_MULTI_DOC', list[1]?.range[0], '', 'the manifest holds more than one YAML document', 'remove the --- separator and keep one document');
  }
  const doc = list[0] as Document.Parsed | undefined;
  const noLocate = (): Located => ({ line: 1, col: 1 });
  if (!doc) return { data: null, issues, locate: noLocate };

  for (const e of doc.errors) {
    const code = e.code === 'DUPLICATE_KEY' ? 'BV_YAML_DUPLICATE_KEY' : 'BV_YAML_SYNTAX';
    // The parser recurses per level of nesting, and reports its own stack overflow as an error.
    // The key as written at the error's offset (a quoted one with its quotes), so the message
    // names which one: a long manifest may hold many a `wall:`.
    const key = e.code === 'DUPLICATE_KEY' ? /^("[^"\n]*"|'[^'\n]*'|[^\s:,{}[\]]+)/.exec(source.slice(e.pos[0], e.pos[0] + 200))?.[1] : undefined;
    const message = e.code === 'DUPLICATE_KEY' ? (key ? `duplicate key ${key}` : 'duplicate key') : /Maximum call stack/.test(e.message) ? TOO_DEEP : (e.message.split('\n')[0] ?? e.message);
    push(code, e.pos[0], '', message, /Maximum call stack/.test(e.message) ? 'a manifest is a few levels deep' : undefined);
  }
  // Unresolved tags are warnings in the yaml package; for us any explicit tag is an error (below).
  for (const w of doc.warnings) {
    if (w.code !== 'TAG_RESOLVE_FAILED') push('BV_YAML_SYNTAX', w.pos[0], '', w.message.split('\n')[0] ?? w.message);
  }

  visit(doc, {
    Alias(_k, node) {
      push('BV_YAML_ALIAS', node.range?.[0], '', `alias *${node.source} is not allowed`, 'write the value out in full');
    },
    Node(_k, node) {
      if (isAlias(node)) return;
      const n = node as YamlNode & { anchor?: string; tag?: string };
      if (n.anchor) push('BV_YAML_ALIAS', n.range?.[0], '', `anchor &${n.anchor} is not allowed`, 'write the value out in full');
      if (n.tag) push('BV_YAML_TAG', n.range?.[0], '', `tag ${n.tag} is not allowed`, 'remove the tag; quote the value if it must be a string');
    },
    Pair(_k, pair) {
      const key = (pair as Pair).key as YamlNode | null;
      if (isScalar(key) && typeof key.value === 'string') return;
      const offset = (key as YamlNode | null)?.range?.[0];
      const shown = isScalar(key) ? JSON.stringify(key.value) : 'a complex key';
      push('BV_YAML_KEY_TYPE', offset, '', `mapping key ${shown} is not a string`, 'quote the key');
    },
  });

  const locate = (path: readonly PathSegment[], opts: { key?: boolean } = {}): Located => {
    // Walk down as far as the document goes; report the deepest node found.
    let node: unknown = doc.contents;
    let best: number | undefined = (doc.contents as YamlNode | null)?.range?.[0];
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg);
        if (!pair) break;
        const keyNode = pair.key as YamlNode;
        if (last && opts.key) return at(keyNode.range?.[0]);
        node = pair.value;
        best = (pair.value as YamlNode | null)?.range?.[0] ?? keyNode.range?.[0];
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as YamlNode | undefined;
        if (!item) break;
        node = item;
        best = item.range?.[0];
      } else break;
    }
    return at(best);
  };

  if (issues.length > 0) return { data: undefined, issues, locate };
  const entry = (): ParsedEntry => {
    const table: LocationTable = [];
    const row = (path: PathSegment[], v: Located, k: Located): void => void table.push([JSON.stringify(path), v.line, v.col, k.line, k.col]);
    const walk = (node: unknown, path: PathSegment[]): void => {
      if (isMap(node)) {
        for (const p of node.items) {
          if (!isPair(p) || !isScalar(p.key) || typeof p.key.value !== 'string') continue;
          const keyAt = at((p.key as YamlNode).range?.[0]);
          const sub = [...path, p.key.value];
          const v = (p.value as YamlNode | null)?.range?.[0];
          row(sub, v === undefined ? keyAt : at(v), keyAt);
          walk(p.value, sub);
        }
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => {
          const itemAt = at((item as YamlNode | null)?.range?.[0]);
          row([...path, i], itemAt, itemAt);
          walk(item, [...path, i]);
        });
      }
    };
    const rootAt = at((doc.contents as YamlNode | null)?.range?.[0]);
    row([], rootAt, rootAt);
    walk(doc.contents, []);
    return { data: doc.toJS({ maxAliasCount: 0 }), table };
  };
  return { data: doc.toJS({ maxAliasCount: 0 }), issues, locate, entry };
}

const TOO_DEEP = 'the document is nested too deeply to read';
