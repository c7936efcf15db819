/** What the simulated callee does, and how a dialled number is mapped to it. */

export type PbxProfile = '1.8' | '11' | '13' | '16' | '18' | '20' | '22';

/** AMI banner version per Asterisk release (see AMI-NOTES: major 1 ⇒ pre-12 shapes). */
export const PROFILE_AMI_VERSION: Record<PbxProfile, string> = {
  '1.8': '1.1',
  '11': '1.3',
  '13': '2.10.6',
  '16': '5.0.4',
  '18': '7.0.3',
  '20': '9.0.0',
  '22': '11.0.0',
};

/** What CoreSettings answers as AsteriskVersion per profile. */
export const PROFILE_ASTERISK_VERSION: Record<PbxProfile, string> = {
  '1.8': '1.8.32.3',
  '11': '11.25.3',
  '13': '13.38.3',
  '16': '16.30.1',
  '18': '18.26.1',
  '20': '20.11.0',
  '22': '22.1.0',
};

export type CallOutcome =
  | { kind: 'answer'; ringMs?: number; talkMs?: number }
  | { kind: 'busy'; ringMs?: number }
  | { kind: 'noanswer' }
  | { kind: 'congestion'; ringMs?: number }
  | { kind: 'reject'; ringMs?: number }
  | { kind: 'unallocated'; ringMs?: number }
  | { kind: 'badchannel' };

export type OutcomeKind = CallOutcome['kind'];
export const OUTCOME_KINDS: readonly OutcomeKind[] = ['answer', 'busy', 'noanswer', 'congestion', 'reject', 'unallocated', 'badchannel'];

export interface DialInfo {
  /** The dialled number/extension parsed from `Tech/<number>@ctx` or `Tech/<number>`. */
  number: string;
  channel: string;
  requestId?: string;
}

export type OutcomeResolver = (dial: DialInfo) => CallOutcome;
export type OutcomeMix = Partial<Record<OutcomeKind, number>>;

/** The extensions of the captured dialplan (`[sim]` in the fixtures' extensions.conf). */
const FIXTURE_NUMBERS: Record<string, CallOutcome> = {
  answer: { kind: 'answer', ringMs: 0, talkMs: 1000 },
  ringanswer: { kind: 'answer', ringMs: 1000, talkMs: 1000 },
  busy: { kind: 'busy' },
  congest: { kind: 'congestion' },
  congestion: { kind: 'congestion' },
  noanswer: { kind: 'noanswer' },
  reject: { kind: 'reject' },
  unallocated: { kind: 'unallocated' },
};

/** `PJSIP/5511@carrier` → `5511`; `Local/busy@sim` → `busy`; `SIP/trunk/5511` → `5511`. */
export function dialledNumber(channel: string): string {
  const slash = channel.indexOf('/');
  const rest = slash >= 0 ? channel.slice(slash + 1) : channel;
  const at = rest.indexOf('@');
  const target = at >= 0 ? rest.slice(0, at) : rest;
  const lastSlash = target.lastIndexOf('/');
  return lastSlash >= 0 ? target.slice(lastSlash + 1) : target;
}

/** Deterministic PRNG (mulberry32) so a seeded mix replays identically. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function parseMix(text: string): OutcomeMix {
  const mix: OutcomeMix = {};
  for (const part of text.split(',').filter(Boolean)) {
    const [name, weight] = part.split('=');
    const kind = (name === 'congest' ? 'congestion' : name) as OutcomeKind;
    if (!OUTCOME_KINDS.includes(kind)) throw new Error(`unknown outcome in mix: ${name}`);
    const w = Number(weight);
    if (!Number.isFinite(w) || w < 0) throw new Error(`bad weight for ${name}: ${weight}`);
    mix[kind] = w;
  }
  return mix;
}

export interface OutcomeConfig {
  outcome?: OutcomeResolver | Record<string, CallOutcome>;
  mix?: OutcomeMix;
  seed?: number;
}

/**
 * Resolution order: a resolver function; an exact number in a rules map; the fixture
 * extension names; the seeded mix; else answer.
 */
export function createOutcomeResolver(config: OutcomeConfig): OutcomeResolver {
  const random = seededRandom(config.seed ?? 1);
  const mixEntries = Object.entries(config.mix ?? {}).filter(([, w]) => (w ?? 0) > 0) as Array<[OutcomeKind, number]>;
  const total = mixEntries.reduce((s, [, w]) => s + w, 0);
  const fromMix = (): CallOutcome => {
    let pick = random() * total;
    for (const [kind, weight] of mixEntries) {
      pick -= weight;
      if (pick < 0) return defaultOutcome(kind, random);
    }
    return defaultOutcome(mixEntries[mixEntries.length - 1]?.[0] ?? 'answer', random);
  };
  return (dial) => {
    if (typeof config.outcome === 'function') return config.outcome(dial);
    const rule = config.outcome?.[dial.number];
    if (rule) return rule;
    const fixture = FIXTURE_NUMBERS[dial.number];
    if (fixture) return fixture;
    if (total > 0) return fromMix();
    return { kind: 'answer', ringMs: 500, talkMs: 2000 };
  };
}

function defaultOutcome(kind: OutcomeKind, random: () => number): CallOutcome {
  switch (kind) {
    case 'answer':
      return { kind, ringMs: 200 + Math.floor(random() * 1800), talkMs: 1000 + Math.floor(random() * 4000) };
    case 'noanswer':
    case 'badchannel':
      return { kind };
    default:
      return { kind, ringMs: 100 + Math.floor(random() * 900) };
  }
}
