// Red twins that fail for the right reason. A twin runs the same oracle with one mechanism
// switched off (a test-only hook) and must see the concrete outcome the switched-off mechanism
// would allow: a value (the errno becomes 0, the probe sees the leaked fd, the namespace inode
// equals ours) or one specific error (its code, and a message pattern). A twin that throws
// anything else, or returns anything else, fails the test: "something went wrong" proves nothing.
import { expect } from 'vitest';

/** What a twin must give: a value compared with toEqual, or one specific error. */
export type TwinExpectation<T> = { value: T } | { error: { code: string; message?: RegExp } };

/**
 * The property with the mechanism on (`observe()` must equal `on`), and its red twin with the
 * mechanism off (`observe(off)` must give exactly `twin`). `on` and a twin value must differ,
 * so the twin cannot pass vacuously.
 */
export async function expectTwin<H, T>(observe: (off?: H) => Promise<T>, off: H, want: { on: T; twin: TwinExpectation<T> }): Promise<void> {
  expect(await observe(), 'with the mechanism on').toEqual(want.on);
  await expectOutcome(() => observe(off), want.twin, 'red twin: with the mechanism switched off');
  if ('value' in want.twin) expect(want.twin.value, 'a twin must expect something other than the property').not.toEqual(want.on);
}

/** `run()` gives exactly the expected value, or rejects with exactly the expected error. */
export async function expectOutcome<T>(run: () => Promise<T>, want: TwinExpectation<T>, what = 'red twin'): Promise<void> {
  if ('value' in want) {
    expect(await run(), what).toEqual(want.value);
    return;
  }
  let got: unknown = undefined;
  let threw = false;
  try {
    got = await run();
  } catch (e) {
    threw = true;
    got = e;
  }
  expect(threw, `${what}: expected the error ${want.error.code}, got the value ${JSON.stringify(got)}`).toBe(true);
  const err = got as { code?: unknown; message?: unknown };
  expect({ code: err.code, message: String(err.message) }, what).toMatchObject({ code: want.error.code, ...(want.error.message ? { message: expect.stringMatching(want.error.message) } : {}) });
}
