export * from './types.js';
export { createAmiClient, backoffDelay, WORKER_EVENTS } from './client.js';
export type { AmiClientOptions } from './client.js';
export { AmiParser, parseAll, serializeAction, escapeVariableValue, variableHeader, assertSafeValue, AMI_MAX_HEADERS, AMI_MAX_LINE_BYTES, AMI_MAX_CHANNEL_ID } from './codec.js';
export type { AmiMessage, AmiRecord, ActionHeader } from './codec.js';
export { originateHeaders } from './actions.js';
export { toCallEvents, toLiveChannel, parseBanner, isEvent } from './events.js';
export { AmiValidationError, AmiTimeoutError, AmiDisconnectedError, AmiAuthError } from './errors.js';
