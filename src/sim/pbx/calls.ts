/**
 * Event shapes of one originated call, per dialect, in the order a real Asterisk emits them
 * (Stasis order taken from the Asterisk 20 transcripts; pre-12 shapes from 1.8/11 manager
 * events: `Dial` SubEvent Begin/End, `<null>` Uniqueid on failure).
 */
import type { AmiDialect } from '../../ami/types.js';

export type EventClass = 'call' | 'dialplan' | 'system' | 'reporting';

export interface SimEvent {
  cls: EventClass;
  /** The `Event:` name, for users whose manager.conf entry filters events by name. */
  name: string;
  /** Rendered once, sent to every session whose rights, mask and filter let it through. */
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

/** Header lines as they go on the wire, each ended by CRLF. */
function lines(headers: ReadonlyArray<readonly [string, string | number]>): string {
  let out = '';
  for (const [k, v] of headers) out += `${k}: ${v}\r\n`;
  return out;
}

/** A whole message: its header lines, then the blank line. */
export function render(headers: ReadonlyArray<readonly [string, string | number]>): string {
  return `${lines(headers)}\r\n`;
}

/**
 * Builds the events of calls for one dialect. An event no session may read (by class, or by
 * name where a user's event filter leaves it out) is not built at all (undefined): a
 * worker's session leaves out the dialplan chatter, and building it anyway cost the
 * simulator about a sixth of its time at full load.
 */
export class EventFactory {
  constructor(
    readonly dialect: AmiDialect,
    private readonly read: (cls: EventClass, name: string) => boolean = () => true,
  ) {}

  /**
   * A channel's headers, written straight as text: the simulator renders a dozen of these
   * per call, and building an array of pairs for each cost it 6–15 % more CPU per call.
   */
  private legLines(leg: Leg, p = ''): string {
    const head = `${p}Channel: ${leg.name}\r\n${p}ChannelState: ${leg.state}\r\n${p}ChannelStateDesc: ${STATE_DESC[leg.state] ?? 'Unknown'}\r\n${p}CallerIDNum: ${leg.callerNum}\r\n${p}CallerIDName: ${leg.callerName}\r\n${p}ConnectedLineNum: ${leg.connectedNum}\r\n${p}ConnectedLineName: ${leg.connectedName}\r\n`;
    if (this.dialect === 'pre12') return `${head}${p}AccountCode: ${leg.accountCode}\r\n${p}Context: ${leg.context}\r\n${p}Exten: ${leg.exten}\r\n${p}Uniqueid: ${leg.uniqueid}\r\n`;
    return `${head}${p}Language: en\r\n${p}AccountCode: ${leg.accountCode}\r\n${p}Context: ${leg.context}\r\n${p}Exten: ${leg.exten}\r\n${p}Priority: ${leg.priority}\r\n${p}Uniqueid: ${leg.uniqueid}\r\n${p}Linkedid: ${leg.linkedid}\r\n`;
  }

  private ev(cls: EventClass, name: string, body: () => string): SimEvent | undefined {
    if (!this.read(cls, name)) return undefined;
    return { cls, name, wire: `Event: ${name}\r\nPrivilege: ${cls},all\r\n${body()}\r\n` };
  }

  newchannel(leg: Leg): SimEvent | undefined {
    return this.ev('call', 'Newchannel', () => this.legLines(leg));
  }

  newstate(leg: Leg): SimEvent | undefined {
    return this.ev('call', 'Newstate', () => this.legLines(leg));
  }

  newexten(leg: Leg, application: string, appData: string): SimEvent | undefined {
    if (this.dialect === 'pre12') return undefined;
    return this.ev('dialplan', 'Newexten', () => this.legLines(leg) + lines([['Extension', leg.exten], ['Application', application], ['AppData', appData]]));
  }

  varSet(leg: Leg, name: string, value: string): SimEvent | undefined {
    return this.ev('dialplan', 'VarSet', () => this.legLines(leg) + lines([['Variable', name], ['Value', value]]));
  }

  newCallerid(leg: Leg): SimEvent | undefined {
    return this.ev('call', 'NewCallerid', () => `${this.legLines(leg)}CID-CallingPres: 0 (Presentation Allowed, Not Screened)\r\n`);
  }

  newConnectedLine(leg: Leg): SimEvent | undefined {
    if (this.dialect === 'pre12') return undefined;
    return this.ev('call', 'NewConnectedLine', () => this.legLines(leg));
  }

  localBridge(one: Leg, two: Leg): SimEvent | undefined {
    if (this.dialect === 'pre12') return undefined;
    return this.ev('call', 'LocalBridge', () => this.legLines(one, 'LocalOne') + this.legLines(two, 'LocalTwo') + lines([['Context', two.context], ['Exten', two.exten], ['LocalOptimization', 'Yes']]));
  }

  dialBegin(dest: Leg, dialString: string): SimEvent | undefined {
    if (this.dialect === 'pre12') {
      return this.ev('call', 'Dial', () => lines([['SubEvent', 'Begin'], ['Channel', dest.name], ['Destination', dest.name], ['CallerIDNum', dest.callerNum], ['CallerIDName', dest.callerName], ['UniqueID', dest.uniqueid], ['DestUniqueID', dest.uniqueid], ['Dialstring', dialString]]));
    }
    return this.ev('call', 'DialBegin', () => `${this.legLines(dest, 'Dest')}DialString: ${dialString}\r\n`);
  }

  dialState(dest: Leg, status: string): SimEvent | undefined {
    if (this.dialect === 'pre12') return undefined;
    return this.ev('call', 'DialState', () => `${this.legLines(dest, 'Dest')}DialStatus: ${status}\r\n`);
  }

  dialEnd(dest: Leg, status: string): SimEvent | undefined {
    if (this.dialect === 'pre12') {
      return this.ev('call', 'Dial', () => lines([['SubEvent', 'End'], ['Channel', dest.name], ['UniqueID', dest.uniqueid], ['DialStatus', status]]));
    }
    return this.ev('call', 'DialEnd', () => `${this.legLines(dest, 'Dest')}DialStatus: ${status}\r\n`);
  }

  hangupRequest(leg: Leg, cause: number, soft = false): SimEvent | undefined {
    if (this.dialect === 'pre12') return undefined;
    return this.ev('call', soft ? 'SoftHangupRequest' : 'HangupRequest', () => `${this.legLines(leg)}Cause: ${cause}\r\n`);
  }

  hangup(leg: Leg, cause: number): SimEvent | undefined {
    return this.ev('call', 'Hangup', () => `${this.legLines(leg)}Cause: ${cause}\r\nCause-txt: ${CAUSE_TXT[cause] ?? 'Unknown'}\r\n`);
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
    return this.ev('call', 'OriginateResponse', () => lines(headers));
  }

  /** Unrelated call-class traffic, for flood faults. */
  noise(seq: number): SimEvent | undefined {
    return this.ev('call', 'MusicOnHoldStart', () => lines([['Channel', `PJSIP/noise-${seq.toString(16).padStart(8, '0')}`], ['Uniqueid', `noise.${seq}`], ['Class', 'default']]));
  }
}
