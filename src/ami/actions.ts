/** Builders for the actions the worker sends; every value is validated before it becomes a header. */
import { AMI_MAX_CHANNEL_ID, assertSafeValue, variableHeader, type ActionHeader } from './codec.js';
import { AmiValidationError } from './errors.js';
import type { AmiDialect, OriginateRequest } from './types.js';

function text(field: string, value: string, { allowEmpty = false, max = 512 } = {}): string {
  if (typeof value !== 'string') throw new AmiValidationError('AMI_BAD_VALUE', field, 'must be a string');
  assertSafeValue(field, value);
  if (!allowEmpty && value.length === 0) throw new AmiValidationError('AMI_BAD_VALUE', field, 'must not be empty');
  if (value.length > max) throw new AmiValidationError('AMI_BAD_VALUE', field, `longer than ${max} characters`);
  return value;
}

function positiveInt(field: string, value: number): string {
  if (!Number.isSafeInteger(value) || value <= 0) throw new AmiValidationError('AMI_BAD_VALUE', field, 'must be a positive integer');
  return String(value);
}

/**
 * The headers of an async Originate. ChannelId/OtherChannelId exist only on 12.2+
 * (Stasis dialect); a pre-12 server would ignore them, so they are not sent there.
 */
export function originateHeaders(request: OriginateRequest, actionId: string, dialect: AmiDialect): ActionHeader[] {
  const headers: ActionHeader[] = [
    ['Action', 'Originate'],
    ['ActionID', text('actionId', actionId, { max: 200 })],
    ['Channel', text('channel', request.channel)],
    ['Context', text('context', request.context, { max: 80 })],
    ['Exten', text('exten', request.exten, { max: 80 })],
    ['Priority', positiveInt('priority', request.priority)],
    ['Timeout', positiveInt('ringTimeoutMs', request.ringTimeoutMs)],
  ];
  if (request.callerId !== undefined) headers.push(['CallerID', text('callerId', request.callerId, { allowEmpty: true, max: 256 })]);
  if (request.account !== undefined) headers.push(['Account', text('account', request.account, { max: 80 })]);
  for (const [name, value] of Object.entries(request.variables)) headers.push(['Variable', variableHeader(name, value)]);
  headers.push(['Async', 'true']);
  if (dialect === 'stasis') {
    if (request.channelId !== undefined) headers.push(['ChannelId', text('channelId', request.channelId, { max: AMI_MAX_CHANNEL_ID })]);
    if (request.otherChannelId !== undefined) {
      headers.push(['OtherChannelId', text('otherChannelId', request.otherChannelId, { max: AMI_MAX_CHANNEL_ID })]);
    }
  }
  return headers;
}

/**
 * A Local channel must keep its pair for the whole call (the `n` option): the worker follows
 * the call on the Local channel it originated, and once both halves are bridged (`;1` to an
 * agent, `;2` to the trunk) Asterisk 12+ optimises the pair away and hangs both up while the
 * customer and the agent go on talking, which would end the call early, billsec cut short.
 */
export function localKeepsPair(channel: string): boolean {
  return !/^local\//i.test(channel) || /\/[a-z]*n[a-z]*$/.test(channel);
}
export const LOCAL_KEEPS_PAIR_MESSAGE = 'a Local channel must end in /n (e.g. Local/{number}@outbound/n): Asterisk would otherwise optimise the pair away once the call is bridged, and the call would be taken for ended';

export function loginHeaders(actionId: string, username: string, secret: string, events: string): ActionHeader[] {
  return [
    ['Action', 'Login'],
    ['ActionID', actionId],
    ['Username', text('username', username, { max: 80 })],
    ['Secret', text('secret', secret, { max: 256 })],
    // `Events` (plural) is the header Asterisk reads to set the session's event mask.
    ['Events', events],
  ];
}
