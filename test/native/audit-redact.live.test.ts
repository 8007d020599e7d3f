// The audit reader's redaction (native-shim/src/audit.c, span.h), fed records it would read from
// the kernel's READLOG group through a socket of our own: no landlock audit is needed (this host
// has audit off). Oracle: the records it forwards, byte for byte, against text written here.
import { describe, expect, it, onTestFinished } from 'vitest';
import { writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { shim } from '../../src/backends/linux/ffi/shim.js';

/** AUDIT_LANDLOCK_ACCESS (include/uapi/linux/audit.h). */
const LANDLOCK_ACCESS = 1423;

/** One netlink message (netlink(7): struct nlmsghdr, then the payload), padded to NLMSG_ALIGNTO
 * as the kernel lays messages out one after another (the socket here is a stream: several
 * messages can come in one read). */
function nlmsg(type: number, text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  return Buffer.concat([h, body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
}

/** The records the reader forwards for `texts`, given `secrets`: [type, text], up to its end
 * record, or what came within 10 s (a reader that forwards less fails the test, it does not hang). */
async function forwarded(texts: string[], secrets: string[]): Promise<Array<[number, string]>> {
  const s = shim();
  const sock = new Int32Array(2);
  const out = new Int32Array(2);
  const stop = new Int32Array(2);
  expect(s.bv_socketpair(sock)).toBe(0);
  expect(s.bv_pipe(out, 1, 1)).toBe(0);
  expect(s.bv_pipe(stop, 1, 1)).toBe(0);
  const mine = [sock[1]!, stop[1]!];
  const reader = new Socket({ fd: out[0]!, readable: true, writable: false });
  onTestFinished(() => {
    reader.destroy();
    for (const fd of mine) if (fd >= 0) s.bv_close(fd);
  });
  const values = Buffer.concat(secrets.map((v) => Buffer.from(`${v}\0`, 'utf8')));
  // The thread owns sock[0], out[1] and stop[0] from here on.
  expect(s.bv_audit_thread(sock[0]!, out[1]!, stop[0]!, '', values, values.length, secrets.length)).toBe(0);
  for (const t of texts) writeSync(sock[1]!, nlmsg(LANDLOCK_ACCESS, t));
  // Stopped once it has read them: its barrier (which this host's audit never logs) times out,
  // then its end record (type 0) comes.
  let buf = Buffer.alloc(0);
  const got: Array<[number, string]> = [];
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    reader.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8 && buf.length >= 8 + buf.readUInt32LE(4)) {
        const type = buf.readUInt32LE(0);
        const text = buf.subarray(8, 8 + buf.readUInt32LE(4)).toString('utf8');
        buf = buf.subarray(8 + buf.readUInt32LE(4));
        if (type === 0) {
          clearTimeout(timer);
          resolve();
          return;
        }
        got.push([type, text]);
        if (got.length === texts.length && mine[1]! >= 0) {
          s.bv_close(mine[1]!);
          mine[1] = -1;
        }
      }
    });
  });
  return got;
}

const hex = (t: string): string => Buffer.from(t, 'utf8').toString('hex').toUpperCase();

describe('the audit reader redacts secret values (live: the shim)', () => {
  it('a value whole or split across a path\'s names, quoted or hex-encoded, is replaced; a short value split, or a near miss, is not', async () => {
    const token = 'S3CRETzq9XyZtokenABC';
    const short = 'ab/cdefg'; // 7 characters besides its '/': looked for whole only
    const pre = 'audit(1764900000.123:42): domain=1a2b blockers=fs.read_file';
    const texts = [
      `${pre} path="/tmp/${token}" dev="tmpfs" ino=5`,
      `${pre} path="/tmp/d_${token.slice(0, 11)}/${token.slice(11, 14)}/${token.slice(14)}" dev="tmpfs" ino=6`,
      // audit hex-encodes a string holding a space: the same split, in that encoding.
      `${pre} path=${hex(`/tmp/d ${token.slice(0, 5)}//${token.slice(5)}`)} dev="tmpfs" ino=7`,
      `${pre} path="/x/ab/c/defg/${token.slice(0, 10)}/Q${token.slice(11)}" dev="tmpfs" ino=8`,
    ];
    const got = await forwarded(texts, [token, short]);
    expect(got.map(([type]) => type)).toEqual([LANDLOCK_ACCESS, LANDLOCK_ACCESS, LANDLOCK_ACCESS, LANDLOCK_ACCESS]);
    expect(got[0]![1]).toBe(`${pre} path="/tmp/<redacted>" dev="tmpfs" ino=5`);
    expect(got[1]![1]).toBe(`${pre} path="/tmp/d_<redacted>" dev="tmpfs" ino=6`);
    expect(got[2]![1]).toBe(`${pre} path=${hex('/tmp/d ')}${hex('<redacted>')} dev="tmpfs" ino=7`);
    // The short value split, and the token with one character changed: left as they are.
    expect(got[3]![1]).toBe(texts[3]);
  });

  // A record is at most 8970 bytes (MAX_AUDIT_MESSAGE_LENGTH), and "<redacted>" is longer than an
  // 8-byte value: a replacement can pass the end.
  const CAP = 8970;
  const pre = 'audit(1764900000.123:43): domain=1a2b blockers=fs.read_file';

  it('a value at the very end of a full record, where "<redacted>" does not fit: the record ends before it', async () => {
    const pin = 'pw123456';
    const head = `${pre} path="/tmp/`;
    const text = `${head}${'x'.repeat(CAP - head.length - pin.length)}${pin}`;
    expect(text.length).toBe(CAP);
    const [[, out]] = (await forwarded([text], [pin])) as [[number, string]];
    expect(out).toBe(text.slice(0, CAP - pin.length));
  });

  it('a record cut by a replacement that grew it: a value whose start is left at its end is cut off too', async () => {
    const pin = 'pw123456';
    const token = 'S3CRETzq9XyZtokenABC';
    const head = `${pre} a="${pin}" path="/tmp/`;
    const filler = 'x'.repeat(CAP - head.length - token.length - 1);
    const text = `${head}${filler}${token}"`;
    expect(text.length).toBe(CAP);
    const [[, out]] = (await forwarded([text], [pin, token])) as [[number, string]];
    // "<redacted>" for the pin pushed the end 2 bytes out: the quote and the token's last byte
    // went, leaving 19 of its 20 bytes, which are cut off as well.
    expect(out).toBe(`${pre} a="<redacted>" path="/tmp/${filler}`);
  });

  it('hex is read in the pairs audit wrote: a value spelled only across two pairs (an odd offset) is no value of the string', async () => {
    const token = 'S3CRETzq9XyZtokenABC';
    // One nibble before the value's hex: every pair of this field is half of one byte, half of the next.
    const text = `${pre} path=4${hex(`${token.slice(0, 10)}/${token.slice(10)}`)}0 dev="tmpfs" ino=9`;
    const [[, out]] = (await forwarded([text], [token])) as [[number, string]];
    expect(out).toBe(text);
  });
});
