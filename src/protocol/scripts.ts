/**
 * Loads the Lua scripts once per connection through ioredis `defineCommand` (EVALSHA with
 * a transparent EVAL fallback after a Redis restart flushed the script cache).
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const SCRIPT_NAMES = ['claim-7', 'transition-1', 'originated-2', 'complete-4', 'reject-5', 'release-5', 'recover-9', 'slots-2', 'rate-1'] as const;
type ScriptName = (typeof SCRIPT_NAMES)[number];

function commandName(script: ScriptName): string {
  return `mc_${script.replace(/-\d+$/, '')}`;
}

const sources = new Map<ScriptName, string>(
  SCRIPT_NAMES.map((name) => [name, readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8')]),
);

export type ScriptReply = string | number | null | ScriptReply[];

export interface ScriptRunner {
  run(script: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<ScriptReply>;
}

export function defineScripts(redis: Redis): ScriptRunner {
  for (const name of SCRIPT_NAMES) {
    const numberOfKeys = Number(/-(\d+)$/.exec(name)?.[1]);
    redis.defineCommand(commandName(name), { numberOfKeys, lua: sources.get(name) ?? '' });
  }
  return {
    run(script, keys, args) {
      const command = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<ScriptReply>>)[commandName(script)];
      if (!command) throw new Error(`script ${script} is not defined`);
      return command.call(redis, ...keys, ...args);
    },
  };
}
