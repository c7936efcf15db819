export { startPbxSimulator, splitVariableHeader, DEFAULT_PBX_USER } from './server.js';
export type { PbxSimulator, PbxSimulatorOptions, PbxStats, PbxFaults, PbxUser, OriginateArrival } from './server.js';
export { createOutcomeResolver, dialledNumber, parseMix, PROFILE_AMI_VERSION, PROFILE_ASTERISK_VERSION, OUTCOME_KINDS } from './outcomes.js';
export type { CallOutcome, OutcomeKind, OutcomeMix, OutcomeResolver, PbxProfile, DialInfo } from './outcomes.js';
