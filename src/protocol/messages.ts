/**
 * Protocol v1 messages. These zod schemas are the single source: docs/protocol.md describes
 * them and `npm run gen` writes the JSON Schema files in docs/schemas/ from them.
 *
 * Every message is JSON with `"v": 1`. Unknown fields are tolerated (and ignored), so Multcall
 * can add fields before workers know them.
 */
import { z } from 'zod';
import { REQUEST_ID, CELULA_NAME, WORKER_ID } from './keys.js';
import { AMI_MAX_LINE_BYTES, variableLineBytes } from '../ami/codec.js';

/** No AMI header may carry these: CR or LF would end the line and inject a header or an action. */
const NO_CONTROL = /^[^\r\n\0]*$/;
const noControl = (max: number) =>
  z
    .string()
    .max(max)
    .regex(NO_CONTROL, { message: 'must not contain CR, LF or NUL' });

export const requestId = z.string().regex(REQUEST_ID, { message: `must match ${REQUEST_ID.source}` });
export const celulaName = z.string().regex(CELULA_NAME, { message: `must match ${CELULA_NAME.source}` });
export const workerId = z.string().regex(WORKER_ID);

/** Digits, optionally a leading +, plus the DTMF-ish characters carriers accept. */
export const phoneNumber = z.string().regex(/^\+?[0-9*#]{1,32}$/, { message: 'must be 1–32 digits, optionally with a leading + (also * and #)' });

/** Variable names: AMI-safe (and see RESERVED_VARIABLE). */
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/**
 * Our own namespace (MC_REQ, MC_CELULA). Asterisk strips a name's leading underscores (they
 * only mark it inherited), so `_MC_REQ` sets MC_REQ as well; and matched in any case.
 */
export const RESERVED_VARIABLE = /^_*MC_/i;

/**
 * What the name and value rules cannot say alone: no reserved name, and a `Variable:` line
 * (escaped, in UTF-8) that fits one AMI line. Refused here, the dead letter names the variable;
 * found out on the wire, it would not.
 */
export function checkVariables(entries: Record<string, string>, ctx: z.RefinementCtx): void {
  const allowed: Record<string, string> = {};
  for (const [name, value] of Object.entries(entries)) {
    if (RESERVED_VARIABLE.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'names starting with MC_ (in any case, after any leading underscores) are reserved' });
    else allowed[name] = value;
  }
  checkVariableLines(allowed, ctx);
}

/** Each variable's `Variable:` line, escaped, in UTF-8, fits one AMI line. */
export function checkVariableLines(entries: Record<string, string> | undefined, ctx: z.RefinementCtx): void {
  for (const [name, value] of Object.entries(entries ?? {})) {
    if (variableLineBytes(name, value) > AMI_MAX_LINE_BYTES) {
      ctx.addIssue({ code: 'custom', path: [name], message: `too long for one AMI line: \`Variable: NAME=value\`, commas, quotes and brackets escaped, must fit ${AMI_MAX_LINE_BYTES} bytes of UTF-8` });
    }
  }
}

export const variables = z
  .record(z.string().regex(VARIABLE_NAME, { message: `variable names must match ${VARIABLE_NAME.source}` }), noControl(512))
  .superRefine(checkVariables)
  .refine((v) => Object.keys(v).length <= 32, { message: 'at most 32 variables' });

export const callerId = noControl(128).regex(/^[^"<>]*(?:"[^"\\]*"\s*)?(?:<\+?[0-9*#]{1,32}>)?$|^\+?[0-9*#]{1,32}$/, {
  message: 'must be `"Name" <digits>`, `<digits>` or digits',
});

/** Multcall → worker: one call to place. */
export const dialRequest = z.looseObject({
  v: z.literal(1),
  id: requestId.describe('Unique request id chosen by Multcall; a second request with the same id inside the dedupe window is dead-lettered.'),
  number: phoneNumber.describe('Number to dial; substituted into the célula\'s channel template.'),
  callerId: callerId.optional().describe('Caller id for this call; defaults to the célula\'s.'),
  variables: variables.optional().describe('Channel variables set on the call (names must not start with MC_).'),
  ringTimeoutMs: z.number().int().min(1000).max(300_000).optional().describe('How long to ring before giving up; defaults to the célula\'s.'),
  deadline: z.number().int().positive().optional().describe('Epoch milliseconds after which the call must not be placed any more.'),
  createdAt: z.number().int().positive().optional().describe('Epoch milliseconds when Multcall queued the request (for latency figures).'),
});
export type DialRequest = z.infer<typeof dialRequest>;

/** Worker → Multcall: the central accepted the Originate; please give the call a CodLigacao. */
export const ack = z.looseObject({
  v: z.literal(1),
  id: requestId.describe('The dial request\'s id.'),
  celula: celulaName,
  worker: workerId.describe('Worker that placed the call.'),
  central: z.string().describe('Central (PBX) the call was placed on.'),
  attempt: z.number().int().positive().describe('1 for the first Originate; higher when the central refused earlier attempts.'),
  replyTo: z.string().describe('The Redis list to LPUSH the ACK reply to (the worker\'s inbox).'),
  channelId: z.string().optional().describe('Uniqueid of the call\'s first channel, known up front on Asterisk 12.2+.'),
  at: z.number().int().describe('Epoch milliseconds when the central accepted the Originate.'),
});
export type Ack = z.infer<typeof ack>;

/** Multcall → worker (its inbox): the call's id in Multcall's database. */
export const ackReply = z.looseObject({
  v: z.literal(1),
  id: requestId.describe('The id of the ACKed request.'),
  codLigacao: z.union([z.string().min(1).max(64), z.number().int()]).transform(String).describe('The call\'s id in Multcall\'s database (string or integer).'),
});
export type AckReply = z.infer<typeof ackReply>;

export const CALL_STATUSES = ['answered', 'busy', 'no-answer', 'congestion', 'rejected', 'failed', 'cancelled', 'unknown'] as const;
export const callStatus = z.enum(CALL_STATUSES);
export type CallStatus = z.infer<typeof callStatus>;

/** Worker → Multcall: exactly one per accepted request. */
export const callResult = z.looseObject({
  v: z.literal(1),
  id: requestId,
  celula: celulaName,
  status: callStatus.describe('What happened to the call; see docs/protocol.md for how each is decided.'),
  detail: z
    .string()
    .optional()
    .describe('Machine-readable detail, e.g. originate-refused, deadline-expired, recovered, recovered-not-found, not-dialled, command-timeout, hangup-not-seen.'),
  message: z.string().optional().describe('The central\'s own words when it refused the Originate.'),
  reason: z.number().int().nullable().describe('OriginateResponse Reason (0 failed, 1 hung up, 3 no answer, 4 answered, 5 busy, 8 congestion); null if none was seen.'),
  cause: z.number().int().nullable().describe('Q.850 Hangup Cause of the dialled leg(s), the most telling one; null if none was seen.'),
  causeTxt: z.string().nullable().describe('Asterisk\'s text for the cause.'),
  central: z.string().nullable().describe('Central the call was placed on.'),
  worker: workerId.describe('Worker that published the result (may differ from the one that placed the call after a take-over).'),
  attempts: z.number().int().nonnegative().describe('Originates sent; 0 if the call was never placed.'),
  codLigacao: z.string().nullable().describe('The CodLigacao from the ACK reply; null if none arrived in time.'),
  ack: z.enum(['none', 'replied', 'timeout']).describe('replied: CodLigacao received; timeout: none within Timeout_Command_ACK; none: never ACKed (the call was not placed).'),
  claimedAt: z.number().int().describe('Epoch ms when a worker took the request.'),
  originatedAt: z.number().int().nullable().describe('Epoch ms when the central accepted the Originate.'),
  answeredAt: z.number().int().nullable().describe('Epoch ms of the answer; null unless answered.'),
  endedAt: z.number().int().describe('Epoch ms of the hangup (or of the decision, for calls never placed).'),
  billsec: z.number().int().nonnegative().describe('Whole seconds between answer and hangup; 0 when not answered.'),
});
export type CallResult = z.infer<typeof callResult>;

export const DEAD_LETTER_CODES = ['invalid-json', 'invalid-id', 'oversize', 'duplicate', 'invalid-request', 'unsupported-version', 'invalid-ack-reply'] as const;

/** What went to the dead-letter list, and why. `raw` is the message exactly as received. */
export const deadLetter = z.looseObject({
  v: z.literal(1),
  code: z.enum(DEAD_LETTER_CODES).describe('Why, for machines.'),
  reason: z.string().describe('Why, for people: names the field at fault.'),
  id: z.string().nullable().describe('The request id, when it could be read.'),
  celula: celulaName,
  worker: z.string(),
  at: z.number().int(),
  raw: z.string().describe('The message exactly as it was received.'),
});
export type DeadLetter = z.infer<typeof deadLetter>;

/** Live parameters kept in the célula's config hash (all values are strings in Redis). */
export const liveConfig = z.object({
  threads: z.coerce.number().int().min(1).max(1000),
  retries: z.coerce.number().int().min(0).max(10),
  commandTimeoutMs: z.coerce.number().int().min(100).max(120_000),
  ackTimeoutMs: z.coerce.number().int().min(100).max(600_000),
});
export type LiveConfig = z.infer<typeof liveConfig>;

/** Turns a zod error into one line that names the fields, for dead letters and logs. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(message)'}: ${i.message}`)
    .join('; ');
}
