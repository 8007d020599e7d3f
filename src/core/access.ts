// The manifest's filesystem access words and what each grants (pure). Shared by what proposes
// grants (learn, explain) and what reads denials back (landlock-audit), which must not pull in
// learn's YAML writer: a lifecycle command reads landlock's denials when it seals a report, and
// its start-up snapshot holds only what those commands run (docs/startup.md).

/** A filesystem grant's access word (schemas/boundary.schema.json). */
export type Access = 'read' | 'read-exec' | 'write' | 'read-write' | 'read-write-exec';

/** The manifest's access word for what a path needs. */
export const accessOf = (u: { read: boolean; write: boolean; exec: boolean }): Access =>
  u.write ? (u.exec ? 'read-write-exec' : u.read ? 'read-write' : 'write') : u.exec ? 'read-exec' : 'read';
/** What each access word grants. */
export const RANK: Record<string, { r: boolean; w: boolean; x: boolean }> = {
  read: { r: true, w: false, x: false }, 'read-exec': { r: true, w: false, x: true }, write: { r: false, w: true, x: false },
  'read-write': { r: true, w: true, x: false }, 'read-write-exec': { r: true, w: true, x: true },
};
/** The access word that grants what `base` grants (read, if nothing yet) plus a write or an exec. */
export function widenAccess(base: string | undefined, need: { write: boolean; exec: boolean }): Access {
  const b = RANK[base ?? 'read'] ?? RANK.read!;
  return accessOf({ read: true, write: need.write || b.w, exec: need.exec || b.x });
}
/** Whether access a includes everything b asks. */
export function covers(a: string, b: string): boolean {
  const x = RANK[a]!;
  const y = RANK[b]!;
  return (x.r || !y.r) && (x.w || !y.w) && (x.x || !y.x);
}

/**
 * A denial's `allow with:` for a path: one line of valid YAML, the filesystem clause as a flow list
 * of the one grant, in the notation of the other clauses' lines (`limits: { memory: 64Mi }`): a
 * manifest without grants takes it as it is; into one with a filesystem list it merges (the grant
 * added, or in place of the one `inPlaceOf` names, said as a comment). A path with anything YAML
 * reads as syntax is double-quoted, as JSON quotes it (a YAML double-quoted scalar).
 */
export function grantAllow(path: string, access: string, inPlaceOf: string | null = null): string {
  // Pure ASCII, every other character a YAML escape (\uXXXX, \UXXXXXXXX): nothing the summary's
  // own escaping (visible: \u{…}) would then rewrite into something YAML does not read.
  const esc = (c: string): string => {
    const n = c.codePointAt(0)!;
    return n > 0xffff ? `\\U${n.toString(16).padStart(8, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  };
  const p = /^[A-Za-z0-9_./@+=~-]+$/.test(path) ? path : JSON.stringify(path).replace(/[^\x20-\x7e]/gu, esc);
  return `filesystem: [{ path: ${p}, access: ${access} }]${inPlaceOf ? `   # in place of ${inPlaceOf}` : ''}`;
}
