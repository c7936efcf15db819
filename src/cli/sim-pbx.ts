/** `multcall sim pbx`: runs the AMI PBX simulator until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { WORKER_EVENTS } from '../ami/index.js';
import { DEFAULT_PBX_USER, parseMix, PROFILE_AMI_VERSION, startPbxSimulator, type PbxProfile, type PbxUser } from '../sim/pbx/index.js';

const HELP = `Usage: multcall sim pbx [options]

A PBX simulator that speaks AMI over TCP (Asterisk 1.8 to 22 event shapes).

  --host <addr>          listen address (default 127.0.0.1)
  --port <n>             listen port, 0 = any free port (default 5038)
  --profile <v>          1.8 | 11 | 13 | 16 | 18 | 20 | 22 (default 20)
  --mix <k=w,...>        outcome weights: answer,busy,noanswer,congestion,reject,unallocated,badchannel
  --seed <n>             seed of the outcome mix (default 1)
  --time-scale <f>       multiply ring/talk/timeouts (default 1)
  --max-channels <n>     calls at once before congestion (Cause 34)
  --randomize-order      let OriginateResponse land among the Hangups
  --user <name:secret>   AMI user (repeatable; read call,system write originate,call,reporting)
  --event-filter <names> send the users only these events, as manager.conf's eventfilter
                         does (comma separated; \`worker\` = the events a worker reads)
  --latency-var <name>   record queue → Originate latency from this variable (epoch ms)
  --help                 this text
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5038' },
      profile: { type: 'string', default: '20' },
      mix: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'time-scale': { type: 'string', default: '1' },
      'max-channels': { type: 'string' },
      'randomize-order': { type: 'boolean', default: false },
      user: { type: 'string', multiple: true },
      'event-filter': { type: 'string' },
      'latency-var': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const profile = values.profile as PbxProfile;
  if (!(profile in PROFILE_AMI_VERSION)) {
    console.error(`unknown profile ${values.profile}; one of ${Object.keys(PROFILE_AMI_VERSION).join(', ')}`);
    return 2;
  }
  const filter = values['event-filter'];
  const eventFilter = filter === undefined ? undefined : filter === 'worker' ? [...WORKER_EVENTS] : filter.split(',').filter(Boolean);
  if (eventFilter && (eventFilter.length === 0 || eventFilter.some((name) => !/^[A-Za-z0-9_]+$/.test(name)))) {
    console.error(`--event-filter expects event names separated by commas, got ${filter}`);
    return 2;
  }
  const base: PbxUser = eventFilter ? { ...DEFAULT_PBX_USER, eventFilter } : DEFAULT_PBX_USER;
  const users: PbxUser[] = (values.user ?? []).map((spec) => {
    const colon = spec.indexOf(':');
    if (colon <= 0) throw new Error(`--user expects name:secret, got ${spec}`);
    return { ...base, username: spec.slice(0, colon), secret: spec.slice(colon + 1) };
  });
  if (users.length === 0) users.push(base);
  const sim = await startPbxSimulator({
    host: values.host,
    port: Number(values.port),
    profile,
    seed: Number(values.seed),
    timeScale: Number(values['time-scale']),
    randomizeOrder: values['randomize-order'],
    ...(values.mix ? { mix: parseMix(values.mix) } : {}),
    ...(values['max-channels'] ? { maxChannels: Number(values['max-channels']) } : {}),
    users,
    ...(values['latency-var'] ? { latencyVariable: values['latency-var'] } : {}),
  });
  console.log(JSON.stringify({ msg: 'pbx simulator listening', address: `${sim.host}:${sim.port}`, profile, banner: sim.banner }));
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const stats = sim.stats();
  await sim.close();
  console.log(JSON.stringify({ msg: 'pbx simulator stopped', originates: stats.originates, duplicates: stats.duplicates.length, malformed: stats.malformed.length, peakChannels: stats.peakChannels, ...(stats.wireLatency ? { wireLatency: stats.wireLatency } : {}) }));
  return 0;
}
