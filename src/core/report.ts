// Sealing and checking run reports. bodyHash = sha256(JCS(body)): any change to any field of the
// body, including key order-independent content, changes the hash.
import type { ReportBody, SealedReport, NotObserved, Witness } from '../contract/generated/types.js';
import { contentHash, type Sha256Hex } from './seal.js';

export function sealReport(body: ReportBody, sha256: Sha256Hex): SealedReport {
  return { bvisorVersion: '1', kind: 'bvisor.report', body, bodyHash: contentHash(body, sha256) };
}

export function reportIntact(r: SealedReport, sha256: Sha256Hex): boolean {
  return contentHash(r.body, sha256) === r.bodyHash;
}

export function notObserved(why: string): NotObserved {
  return { notObserved: why };
}

export function witness(unit: Witness['unit'], limit: number | null, observed: number | NotObserved, source?: string): Witness {
  return source === undefined ? { unit, limit, observed } : { unit, limit, observed, source };
}
