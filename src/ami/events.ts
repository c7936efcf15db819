/**
 * Normalises raw AMI events of both dialects into `CallEvent`s.
 *
 * pre12 (1.8/11): `Dial` with `SubEvent: Begin|End`, failed OriginateResponse carries
 * `Uniqueid: <null>`. stasis (12+): `DialBegin`/`DialEnd` with `Dest*` fields, failure
 * Uniqueid is the ChannelId or `<unknown>`.
 */
import type { AmiDialect, AmiFields, AmiServerInfo, CallEvent, LiveChannel } from './types.js';

/** An OriginateResponse also has `Response:`, so `Event:` is checked first. */
export function isEvent(fields: AmiFields): boolean {
  return fields.event !== undefined;
}

export function parseBanner(banner: string): AmiServerInfo {
  const match = /^Asterisk Call Manager\/(\S+)/.exec(banner);
  const amiVersion = match?.[1] ?? '0';
  const major = Number.parseInt(amiVersion, 10);
  const dialect: AmiDialect = Number.isFinite(major) && major >= 2 ? 'stasis' : 'pre12';
  return { banner, amiVersion, dialect };
}

function realUniqueid(value: string | undefined): string | undefined {
  if (value === undefined || value === '' || value === '<null>' || value === '<unknown>') return undefined;
  return value;
}

function timestampOf(fields: AmiFields): number | undefined {
  const raw = fields.timestamp;
  if (raw === undefined) return undefined;
  const t = Number(raw);
  return Number.isFinite(t) ? t : undefined;
}

function withTimestamp<T extends CallEvent>(event: T, fields: AmiFields): T {
  const timestamp = timestampOf(fields);
  if (timestamp !== undefined) event.timestamp = timestamp;
  return event;
}

function optional<T extends object, K extends string>(target: T, key: K, value: string | undefined): T {
  if (value !== undefined && value !== '') (target as Record<string, unknown>)[key] = value;
  return target;
}

function isUp(fields: AmiFields): boolean {
  if (fields.channelstate !== undefined) return fields.channelstate === '6';
  // Very old servers only had `State: Up`.
  return fields.state === 'Up' || fields.channelstatedesc === 'Up';
}

/**
 * Maps one raw event to zero or more call events. A DialEnd with ANSWER yields both a
 * `dial-end` and an `answered` (consumers must treat `answered` as idempotent anyway:
 * each leg's Newstate reports it too).
 */
export function toCallEvents(fields: AmiFields): CallEvent[] {
  const name = fields.event;
  if (name === undefined) return [];
  switch (name.toLowerCase()) {
    case 'originateresponse': {
      const event: CallEvent = {
        kind: 'originate-response',
        success: (fields.response ?? '').toLowerCase() === 'success',
        reason: Number.parseInt(fields.reason ?? '0', 10) || 0,
        channel: fields.channel ?? '',
      };
      optional(event, 'actionId', fields.actionid);
      optional(event, 'uniqueid', realUniqueid(fields.uniqueid));
      optional(event, 'account', fields.account);
      return [withTimestamp(event, fields)];
    }
    case 'newstate': {
      if (!isUp(fields)) return [];
      const uniqueid = realUniqueid(fields.uniqueid);
      if (uniqueid === undefined) return [];
      const event: CallEvent = { kind: 'answered', uniqueid, channel: fields.channel ?? '' };
      optional(event, 'linkedid', fields.linkedid);
      return [withTimestamp(event, fields)];
    }
    case 'dialend':
      return dialEnd(fields, fields.destuniqueid ?? fields.uniqueid, fields.destchannel ?? fields.channel, fields.destlinkedid);
    case 'dial':
      if ((fields.subevent ?? '').toLowerCase() !== 'end') return [];
      return dialEnd(fields, fields.destuniqueid ?? fields.uniqueid, fields.destination ?? fields.channel, undefined);
    case 'hangup': {
      const uniqueid = realUniqueid(fields.uniqueid);
      if (uniqueid === undefined) return [];
      const event: CallEvent = {
        kind: 'hangup',
        uniqueid,
        channel: fields.channel ?? '',
        cause: Number.parseInt(fields.cause ?? '0', 10) || 0,
        causeTxt: fields['cause-txt'] ?? '',
      };
      optional(event, 'linkedid', fields.linkedid);
      optional(event, 'accountCode', fields.accountcode);
      return [withTimestamp(event, fields)];
    }
    default:
      return [];
  }
}

function dialEnd(fields: AmiFields, rawUniqueid: string | undefined, channel: string | undefined, linkedid: string | undefined): CallEvent[] {
  const uniqueid = realUniqueid(rawUniqueid);
  if (uniqueid === undefined) return [];
  const dialStatus = (fields.dialstatus ?? '').toUpperCase();
  const out: CallEvent[] = [withTimestamp({ kind: 'dial-end', uniqueid, dialStatus }, fields)];
  if (dialStatus === 'ANSWER') {
    const answered: CallEvent = { kind: 'answered', uniqueid, channel: channel ?? '' };
    optional(answered, 'linkedid', linkedid);
    out.push(withTimestamp(answered, fields));
  }
  return out;
}

/** `HH:MM:SS` (or plain seconds) to seconds. */
function durationSeconds(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const parts = raw.split(':').map((p) => Number.parseInt(p, 10));
  if (parts.some((p) => !Number.isFinite(p))) return undefined;
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

/** One `CoreShowChannel` event to a LiveChannel (1.8 spells it `UniqueID`; keys are lower-cased). */
export function toLiveChannel(fields: AmiFields): LiveChannel {
  const channel: LiveChannel = {
    channel: fields.channel ?? '',
    uniqueid: fields.uniqueid ?? '',
    accountCode: fields.accountcode ?? '',
    channelState: Number.parseInt(fields.channelstate ?? '', 10) || 0,
  };
  if (fields.linkedid) channel.linkedid = fields.linkedid;
  // CoreShowChannel says Duration (HH:MM:SS); Status says Seconds.
  const duration = durationSeconds(fields.duration ?? fields.seconds);
  if (duration !== undefined) channel.durationSeconds = duration;
  return channel;
}
