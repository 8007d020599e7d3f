// Container ids, by runc's rule (letters, digits, _ + - .) with a bound on length, and never a
// name that means something to a path (., ..). An id is always one path segment.
const ID = /^[A-Za-z0-9_+.-]{1,128}$/;

export function idProblem(id: string): string | null {
  if (!ID.test(id)) return 'ids are 1–128 characters of letters, digits, _ + - .';
  if (id === '.' || id === '..') return 'an id cannot be . or ..';
  return null;
}
