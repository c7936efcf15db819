/**
 * Builds the Originate for one attempt of one request from the célula's template.
 * The request was validated by its zod schema; the AMI layer validates again on the wire.
 */
import type { AmiDialect, OriginateRequest } from '../ami/types.js';
import type { DialRequest } from '../protocol/messages.js';
import type { OriginateTemplate } from './config.js';
import { actionIdFor, channelIdsFor } from './overheard.js';

export function buildOriginate(template: OriginateTemplate, request: DialRequest, celula: string, workerId: string, attempt: number, dialect: AmiDialect): OriginateRequest & { actionId: string } {
  // Unique per attempt: Asterisk refuses a ChannelId still in use (and 1.8/11 ignore it).
  const [channelId, otherChannelId] = channelIdsFor(request.id, attempt);
  const callerId = request.callerId ?? template.callerId;
  return {
    actionId: actionIdFor(workerId, request.id, attempt),
    channel: template.channel.replaceAll('{number}', request.number),
    context: template.context,
    exten: template.exten,
    priority: template.priority,
    ringTimeoutMs: request.ringTimeoutMs ?? template.ringTimeoutMs,
    ...(callerId !== undefined ? { callerId } : {}),
    account: request.id,
    variables: { ...template.variables, ...request.variables, MC_REQ: request.id, MC_CELULA: celula },
    ...(dialect === 'stasis' ? { channelId, otherChannelId } : {}),
  };
}
