#!/usr/bin/env node
/**
 * `multcall <sub-command>`: one image, one binary, every role.
 * Each sub-command lives in its own module and is loaded only when asked for, so the
 * worker never pays for the operator's Kubernetes client and vice versa.
 */
type Command = { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> };

const commands: Record<string, Command> = {
  demo: { summary: 'run a local Redis, the PBX simulator, a worker and the Multcall side, and show calls flowing', load: () => import('./demo.js') },
  operator: { summary: 'the Kubernetes operator: Celula and Central → worker Deployments, probes, status', load: () => import('./operator.js') },
  worker: { summary: 'the dial worker: a célula\'s Redis queue → AMI Originate → ACK → result', load: () => import('./worker.js') },
  'sim pbx': { summary: 'a PBX simulator speaking AMI on TCP', load: () => import('./sim-pbx.js') },
  'sim multcall': { summary: 'the Multcall side: enqueue calls, answer ACKs, drain results', load: () => import('./sim-multcall.js') },
  top: { summary: 'live terminal view of every célula\'s queues', load: () => import('./top.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return `usage: multcall <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nmultcall <command> --help for a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const two = argv.slice(0, 2).join(' ');
  const name = commands[two] ? two : argv[0];
  const command = name ? commands[name] : undefined;
  if (!command || !name) {
    console.error(usage());
    return argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' ? 0 : 2;
  }
  const module = await command.load();
  return module.run(argv.slice(name.split(' ').length));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  },
);
