/**
 * Event shapes of one originated call, per dialect, in the order a real Asterisk emits them
 * (Stasis order taken from the Asterisk 20 transcripts; pre-12 shapes from 1.8/11 manager
 * events: `Dial` SubEvent Begin/End, `<null>` Uniqueid on failure).
 */
import type { AmiDialect } from '../../ami/types.js';

export type EventClass = 'call' | 'dialplan' | 'system' | 'reporting';

export interface SimEvent {
  cls: EventClass;
  /** Rendered once, sent to every session whose rights and mask include `cls`. */
  wire: string;
}

export interface Leg {
  name: string;
  uniqueid: string;
  linkedid: string;
  state: number;
  context: string;
  exten: string;
  priority: number;
  accountCode: string;
  callerNum: string;
  callerName: string;
  connectedNum: string;
  connectedName: string;
  createdAt: number;
  variables: Map<string, string>;
}

const STATE_DESC: Record<number, string> = { 0: 'Down', 4: 'Ring', 5: 'Ringing', 6: 'Up', 7: 'Busy' };

export const CAUSE_TXT: Record<number, string> = {
  0: 'Unknown',
  1: 'Unallocated (unassigned) number',
  16: 'Normal Clearing',
  17: 'User busy',
  19: 'User alerting, no answer',
  21: 'Call Rejected',
  34: 'Circuit/channel congestion',
};

export function render(headers: ReadonlyArray<readonly [string, string | number]>): string {
  let out = '';
  for (const [k, v] of headers) out += `${k}: ${v}\r\n`;
  return `${out}\r\n`;
}

/**
 * Builds the events of calls for one dialect. An event of a class no session may read is
 * not built at all (undefined): a worker's session leaves out the dialplan chatter, and
 * building it anyway would cost the simulator a third of its time.
 */
export class EventFactory {
  constructor(
    readonly dialect: AmiDialect,
    private readonly read: (cls: EventClass) => boolean = () => true,
  ) {}

  private legHeaders(leg: Leg, prefix = ''): Array<[string, string | number]> {
    if (this.dialect === 'pre12') {
      return [
        [`${prefix}Channel`, leg.name],
        [`${prefix}ChannelState`, leg.state],
        [`${prefix}ChannelStateDesc`, STATE_DESC[leg.state] ?? 'Unknown'],
        [`${prefix}CallerIDNum`, leg.callerNum],
        [`${prefix}CallerIDName`, leg.callerName],
        [`${prefix}ConnectedLineNum`, leg.connectedNum],
        [`${prefix}ConnectedLineName`, leg.connectedName],
        [`${prefix}AccountCode`, leg.accountCode],
        [`${prefix}Context`, leg.context],
        [`${prefix}Exten`, leg.exten],
        [`${prefix}Uniqueid`, leg.uniqueid],
      ];
    }
    return [
      [`${prefix}Channel`, leg.name],
      [`${prefix}ChannelState`, leg.state],
      [`${prefix}ChannelStateDesc`, STATE_DESC[leg.state] ?? 'Unknown'],
      [`${prefix}CallerIDNum`, leg.callerNum],
      [`${prefix}CallerIDName`, leg.callerName],
      [`${prefix}ConnectedLineNum`, leg.connectedNum],
      [`${prefix}ConnectedLineName`, leg.connectedName],
      [`${prefix}Language`, 'en'],
      [`${prefix}AccountCode`, leg.accountCode],
      [`${prefix}Context`, leg.context],
      [`${prefix}Exten`, leg.exten],
      [`${prefix}Priority`, leg.priority],
      [`${prefix}Uniqueid`, leg.uniqueid],
      [`${prefix}Linkedid`, leg.linkedid],
    ];
  }

  private ev(cls: EventClass, name: string, body: () => Array<[string, string | number]>): SimEvent | undefined {
    if (!this.read(cls)) return undefined;
    return { cls, wire: render([['Event', name], ['Privilege', `${cls},all`], ...body()]) };
  }

  newchannel(leg: Leg): SimEvent | undefined {
    return this.ev('call', 'Newchannel', () => this.legHeaders(leg));
  }

  newstate(leg: Leg): SimEvent | undefined {
    return this.ev('call', 'Newstate', () => this.legHeaders(leg));
  }

  newexten(leg: Leg, application: string, appData: string): SimEvent | undefined {
    if (this.dialect === 'pre12') return undefined;
    return this.ev('dialplan', 'Newexten', () => [...this.legHeaders(leg), ['Extension', leg.exten], ['Application', application], ['AppData', appData]]);
  }

  varSet(leg: Leg, name: string, value: string): SimEvent | undefined {
    return this.ev('dialplan', 'VarSet', () => [...this.legHeaders(leg), ['Variable', name], ['Value', value]]);
  }

  newCallerid(leg: Leg): SimEvent | undefined {
    return this.ev('call', 'NewCallerid', () => [...this.legHeaders(leg), ['CID-CallingPres', '0 (Presentation Allowed, Not Screened)']]);
  }

  newConnectedLine(leg: Leg): SimEvent | undefined {
    if (this.dialect === 'pre12') return undefined;
    return this.ev('call', 'NewConnectedLine', () => this.legHeaders(leg));
  }

  localBridge(one: Leg, two: Leg): SimEvent | undefined {
    if (this.dialect === 'pre12') return undefined;
    return this.ev('call', 'LocalBridge', () => [...this.legHeaders(one, 'LocalOne'), ...this.legHeaders(two, 'LocalTwo'), ['Context', two.context], ['Exten', two.exten], ['LocalOptimization', 'Yes']]);
  }

  dialBegin(dest: Leg, dialString: string): SimEvent | undefined {
    if (this.dialect === 'pre12') {
      return this.ev('call', 'Dial', () => [['SubEvent', 'Begin'], ['Channel', dest.name], ['Destination', dest.name], ['CallerIDNum', dest.callerNum], ['CallerIDName', dest.callerName], ['UniqueID', dest.uniqueid], ['DestUniqueID', dest.uniqueid], ['Dialstring', dialString]]);
    }
    return this.ev('call', 'DialBegin', () => [...this.destHeaders(dest), ['DialString', dialString]]);
  }

  private destHeaders(dest: Leg): Array<[string, string | number]> {
    return this.legHeaders(dest).map(([k, v]) => [`Dest${k}`, v] as [string, string | number]);
  }

  dialState(dest: Leg, status: string): SimEvent | undefined {
    if (this.dialect === 'pre12') return undefined;
    return this.ev('call', 'DialState', () => [...this.destHeaders(dest), ['DialStatus', status]]);
  }

  dialEnd(dest: Leg, status: string): SimEvent | undefined {
    if (this.dialect === 'pre12') {
      return this.ev('call', 'Dial', () => [['SubEvent', 'End'], ['Channel', dest.name], ['UniqueID', dest.uniqueid], ['DialStatus', status]]);
    }
    return this.ev('call', 'DialEnd', () => [...this.destHeaders(dest), ['DialStatus', status]]);
  }

  hangupRequest(leg: Leg, cause: number, soft = false): SimEvent | undefined {
    if (this.dialect === 'pre12') return undefined;
    return this.ev('call', soft ? 'SoftHangupRequest' : 'HangupRequest', () => [...this.legHeaders(leg), ['Cause', cause]]);
  }

  hangup(leg: Leg, cause: number): SimEvent | undefined {
    return this.ev('call', 'Hangup', () => [...this.legHeaders(leg), ['Cause', cause], ['Cause-txt', CAUSE_TXT[cause] ?? 'Unknown']]);
  }

  originateResponse(o: { actionId?: string; success: boolean; channel: string; context: string; exten: string; reason: number; uniqueid: string; callerNum: string; callerName: string }): SimEvent | undefined {
    const headers: Array<[string, string | number]> = [];
    if (o.actionId !== undefined) headers.push(['ActionID', o.actionId]);
    headers.push(
      ['Response', o.success ? 'Success' : 'Failure'],
      ['Channel', o.channel],
      ['Context', o.context],
      ['Exten', o.exten],
      ['Reason', o.reason],
      ['Uniqueid', o.uniqueid],
      ['CallerIDNum', o.callerNum],
      ['CallerIDName', o.callerName],
    );
    return this.ev('call', 'OriginateResponse', () => headers);
  }

  /** Unrelated call-class traffic, for flood faults. */
  noise(seq: number): SimEvent | undefined {
    return this.ev('call', 'MusicOnHoldStart', () => [['Channel', `PJSIP/noise-${seq.toString(16).padStart(8, '0')}`], ['Uniqueid', `noise.${seq}`], ['Class', 'default']]);
  }
}
