// Text from a workload or a bundle, made safe to print on the caller's terminal. Pure.
/**
 * Text a workload chose (paths, arguments), made safe to print on a terminal: every control
 * character is escaped, C0 and DEL but also C1 (U+0080–U+009F: CSI, OSC… in UTF-8, which many
 * terminals act on), format characters (bidi overrides that reorder what is shown, zero-width
 * ones), line and paragraph separators, surrogates, private-use code points and U+FFFD (what an
 * undecodable byte became). Printable text, ASCII or not, is left as it is.
 */
export function visible(s: string): string {
  return s.replace(/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\u2028\u2029\uFFFD]/gu, (ch) => {
    const cp = ch.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
  });
}
