/**
 * Redis key layout of protocol v1. Every key of one célula carries the same hash tag
 * `{<celula>}`, so each Lua script touches a single slot. Workers connect to one Redis server,
 * not to a Redis Cluster (docs/protocol.md §2).
 */
export const DEFAULT_PREFIX = 'multcall';

/** Célula names become part of key names and AMI variables, so they are kept plain. */
export const CELULA_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** Request ids become AMI Account codes and ChannelIds (≤ 149 chars with our decorations). */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
export const WORKER_ID = /^[A-Za-z0-9._-]{1,100}$/;

export interface CelulaKeys {
  /** LIST. Multcall LPUSHes dial requests; workers take from the right (FIFO). */
  dial: string;
  /** HASH request id → call record (JSON) while the request is in a worker's hands. */
  calls: string;
  /** ZSET request id → accepted-at (ms). Refuses a second request with the same id within the dedupe window. */
  seen: string;
  /** ZSET worker id → heartbeat deadline (ms). */
  workers: string;
  /** ZSET worker id → when peers took over its calls (ms); its landing list is looked at again a lease later. */
  departed: string;
  /** HASH worker id → worker info (JSON: central, host, threads, startedAt). */
  workerInfo: string;
  /** LIST. Workers LPUSH ACKs; Multcall takes from the right. */
  acks: string;
  /** LIST. Workers LPUSH results; Multcall takes from the right. */
  results: string;
  /** LIST. Messages that could not be accepted, with the reason. */
  dead: string;
  /** HASH of live parameters (threads, retries, timeouts); changes are announced on the same name as a pub/sub channel. */
  config: string;
  /** HASH of counters: results by status, dead letters, claims. */
  stats: string;
  /** HASH worker id → its clock minus Redis's (ms), as it last measured: workers check their clocks against each other's (docs/protocol.md §8, Clocks). */
  clocks: string;
  /** LIST per worker: where a blocking move parks a dial request before the claim script takes it. */
  landing(workerId: string): string;
  /** SET per worker: request ids the worker holds. */
  workerCalls(workerId: string): string;
  /** LIST per worker: Multcall's ACK replies (CodLigacao) to this worker. */
  inbox(workerId: string): string;
  /** LIST per worker: ACK replies moved out of the inbox and not yet handled (reliable-queue pattern). */
  inboxTaken(workerId: string): string;
}

export function celulaKeys(celula: string, prefix: string = DEFAULT_PREFIX): CelulaKeys {
  if (!CELULA_NAME.test(celula)) throw new Error(`invalid célula name ${JSON.stringify(celula)}: must match ${CELULA_NAME}`);
  const base = `${prefix}:{${celula}}`;
  return {
    dial: `${base}:dial`,
    calls: `${base}:calls`,
    seen: `${base}:seen`,
    workers: `${base}:workers`,
    departed: `${base}:departed`,
    workerInfo: `${base}:workerinfo`,
    acks: `${base}:acks`,
    results: `${base}:results`,
    dead: `${base}:dead`,
    config: `${base}:config`,
    stats: `${base}:stats`,
    clocks: `${base}:clocks`,
    landing: (w) => `${base}:w:${w}:landing`,
    workerCalls: (w) => `${base}:w:${w}:calls`,
    inbox: (w) => `${base}:w:${w}:inbox`,
    inboxTaken: (w) => `${base}:w:${w}:inbox:taken`,
  };
}

/** The registry of células, so `top` and the operator can list them without SCAN. */
export function celulaRegistryKey(prefix: string = DEFAULT_PREFIX): string {
  return `${prefix}:celulas`;
}

/** Central names are DNS-1123 names (the Central resource's name). */
export const CENTRAL_NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;

/**
 * Guard state of one central, shared by every worker of every célula that uses the same
 * Redis (and prefix). Its own hash tag `{central:<name>}` keeps each guard script on one
 * slot; célula names cannot contain `:`, so the tags never collide.
 */
export interface CentralKeys {
  /** HASH holder (`<celula>/<worker>`) → channel slots it holds. */
  slots: string;
  /** ZSET holder → lease deadline (ms, Redis clock). A holder past it loses its slots. */
  leases: string;
  /** HASH `tokens`, `at` (ms, Redis clock): the shared Originate token bucket. */
  rate: string;
}

export function centralKeys(central: string, prefix: string = DEFAULT_PREFIX): CentralKeys {
  if (!CENTRAL_NAME.test(central)) throw new Error(`invalid central name ${JSON.stringify(central)}: must match ${CENTRAL_NAME}`);
  const base = `${prefix}:{central:${central}}`;
  return { slots: `${base}:slots`, leases: `${base}:leases`, rate: `${base}:rate` };
}

/** A worker's name among the holders of a central's slots: worker ids are unique per célula only. */
export function slotHolder(celula: string, workerId: string): string {
  return `${celula}/${workerId}`;
}
