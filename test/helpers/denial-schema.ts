// The report schema's Denial definition, compiled for tests of one denial at a time (ajv, as the contract's
// validators are; only the one definition is needed here).
import Ajv2020 from 'ajv/dist/2020.js';
import schema from '../../schemas/report.schema.json';
import signalsSent from '../../schemas/signals-sent.schema.json';

const ajv = new (Ajv2020 as unknown as typeof import('ajv').default)({ strict: false, allErrors: true });
// (The report refers to the signals record's definition: added for the reference to resolve.)
ajv.addSchema(signalsSent as object);
ajv.addSchema(schema as object);
export const validateDenial = ajv.getSchema('https://bvisor.dev/schemas/report.schema.json#/$defs/Denial')!;
