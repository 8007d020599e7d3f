// The bundle as validate and plan take it: their own argument, or -b/--bundle as run and create
// take it (a new-user pass typed `plan -b DIR` and met "Nonexistent flag").
import { Args, Flags } from '@oclif/core';
import { BvisorError } from '../contract/errors.js';

export const bundleArg = { bundle: Args.string({ description: 'bundle directory, or .tar/.tar.gz (default: the current directory)' }) };
export const bundleFlag = { bundle: Flags.string({ char: 'b', description: 'the bundle, as run and create take it (the same as the argument)' }) };

/** The bundle named once, either way; the current directory when neither names one (runc's rule). */
export function bundleOf(arg: string | undefined, flag: string | undefined): string {
  if (arg !== undefined && flag !== undefined && arg !== flag) throw new BvisorError('BV_USAGE', `the bundle is named twice: ${arg}, and -b ${flag}`, { hint: 'name it once, as the argument or with -b' });
  return arg ?? flag ?? '.';
}
