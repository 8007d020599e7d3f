// sha256 for the pure core, which receives it as an argument.
import { createHash } from 'node:crypto';
import type { Sha256Hex } from '../core/seal.js';

export const sha256Hex: Sha256Hex = (text) => createHash('sha256').update(text, 'utf8').digest('hex');
