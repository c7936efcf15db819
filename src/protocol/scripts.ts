/**
 * Loads the Lua scripts once per connection through ioredis `defineCommand` (EVALSHA with
 * a transparent EVAL fallback after a Redis restart flushed the script cache).
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const SCRIPT_NAMES = ['claim-7', 'heartbeat-1', 'transition-1', 'originated-2', 'complete-4', 'reject-5', 'release-5', 'recover-10', 'landing-4', 'slots-2', 'rate-1', 'replies-2', 'reject-reply-3', 'forward-4', 'reroute-reply-3'] as const;
type ScriptName = (typeof SCRIPT_NAMES)[number];

/** The per-call steps, which may also run for several calls in one script call (`runEach`). */
const EACH_NAMES = ['transition-1', 'originated-2', 'complete-4'] as const;
export type EachScriptName = (typeof EACH_NAMES)[number];

function commandName(script: ScriptName): string {
  return `mc_${script.replace(/-\d+$/, '')}`;
}

const eachCommandName = (script: EachScriptName): string => `${commandName(script)}_each`;

const sources = new Map<ScriptName, string>(
  SCRIPT_NAMES.map((name) => [name, readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8')]),
);

/**
 * A per-call script run once for each of several calls, inside one script call: the same
 * source as a function of its own KEYS and ARGV, so each call is checked and moved exactly
 * as alone. ARGV: count, arguments per call, then every call's arguments in turn.
 * Returns each call's reply, in order.
 */
function eachSource(script: EachScriptName): string {
  return [
    'local function one(KEYS, ARGV)',
    sources.get(script) ?? '',
    'end',
    'local n, width = tonumber(ARGV[1]), tonumber(ARGV[2])',
    'local replies = {}',
    'for i = 0, n - 1 do',
    '  local args = {}',
    '  for j = 1, width do args[j] = ARGV[2 + i * width + j] end',
    '  replies[i + 1] = one(KEYS, args)',
    'end',
    'return replies',
  ].join('\n');
}

export type ScriptReply = string | number | null | ScriptReply[];

export type BufferReply = Buffer | number | null | BufferReply[];

export interface ScriptRunner {
  run(script: ScriptName, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<ScriptReply>;
  /** As `run`, with bulk replies as Buffers, byte for byte (ioredis decodes strings as UTF-8, lossily). */
  runBuffer(script: ScriptName, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<BufferReply>;
  /** Runs `script` for each item (its ARGV) in one script call; the replies in item order. */
  runEach(script: EachScriptName, keys: readonly string[], items: ReadonlyArray<readonly (string | number)[]>): Promise<ScriptReply[]>;
}

type Command = (...a: (string | number | Buffer)[]) => Promise<ScriptReply>;

export function defineScripts(redis: Redis): ScriptRunner {
  const numberOfKeys = (name: ScriptName) => Number(/-(\d+)$/.exec(name)?.[1]);
  for (const name of SCRIPT_NAMES) redis.defineCommand(commandName(name), { numberOfKeys: numberOfKeys(name), lua: sources.get(name) ?? '' });
  for (const name of EACH_NAMES) redis.defineCommand(eachCommandName(name), { numberOfKeys: numberOfKeys(name), lua: eachSource(name) });
  const command = (name: string): Command => {
    const c = (redis as unknown as Record<string, Command>)[name];
    if (!c) throw new Error(`script ${name} is not defined`);
    return c;
  };
  return {
    run(script, keys, args) {
      return command(commandName(script)).call(redis, ...keys, ...args);
    },
    async runBuffer(script, keys, args) {
      return (await command(`${commandName(script)}Buffer`).call(redis, ...keys, ...args)) as unknown as BufferReply;
    },
    async runEach(script, keys, items) {
      const width = items[0]?.length ?? 0;
      if (items.some((a) => a.length !== width)) throw new Error(`${script}: every call needs the same number of arguments`);
      const replies = await command(eachCommandName(script)).call(redis, ...keys, items.length, width, ...items.flat());
      return Array.isArray(replies) ? replies : [];
    },
  };
}
