// Container ids, by runc's rule (letters, digits, _ + - .) with a bound on length, and never a
// name that means something to a path (., ..). An id is always one path segment.
//
// An id is not a hostname. runc and crun accept ids of any length and take the hostname from the
// bundle's config; engines hand them 64-hex ids and longer names (podman, CRI-O). bvisor uses the
// id as the hostname of a private uts namespace, and a hostname is at most 64 bytes
// (HOST_NAME_MAX, sethostname(2)), so a longer id gets a hostname derived from it.
import { BvisorError } from '../contract/errors.js';

const ID = /^[A-Za-z0-9_+.-]{1,128}$/;

/** The most a uts namespace's hostname can hold (HOST_NAME_MAX, include/uapi/linux/utsname.h). */
export const HOST_NAME_MAX = 64;

export function idProblem(id: string): string | null {
  if (!ID.test(id)) return 'ids are 1–128 characters of letters, digits, _ + - .';
  if (id === '.' || id === '..') return 'an id cannot be . or ..';
  return null;
}

/** The id, or BV_ID_INVALID saying why it cannot be one. */
export function checkedId(id: string): string {
  const why = idProblem(id);
  if (why) throw new BvisorError('BV_ID_INVALID', `container id ${JSON.stringify(id)}: ${why}`, { hint: 'e.g. build-42' });
  return id;
}

/**
 * The hostname of a container with this id: the id itself when it fits in 64 bytes, else its
 * first 55 characters, '-', and 8 hex digits of a hash of the whole id, so that long ids sharing
 * a prefix (build-…-1, build-…-2) still get different hostnames. Ids are ASCII, so characters
 * are bytes.
 */
export function hostnameFor(id: string): string {
  if (id.length <= HOST_NAME_MAX) return id;
  return `${id.slice(0, HOST_NAME_MAX - 9)}-${fnv1a32(id).toString(16).padStart(8, '0')}`;
}

/** FNV-1a, 32 bits: a stable, dependency-free spread (core/ is pure: no node:crypto). */
function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
