// bvisor's programmatic API. Import from 'bvisor'.
export { runConfined, closeSpares, commitOutputs, discardOutputs, type RunConfinedOptions, type ConfinedResult, type Disposition } from './app/api.js';
export { BvisorError, EXIT, ERROR_CODES } from './contract/errors.js';
export type { SealedReport, ReportBody, Plan, HostFacts, BoundaryManifest, Denials, Denial, DenialSource } from './contract/generated/types.js';
export { denialSummary } from './core/denials.js';
