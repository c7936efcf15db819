/**
 * Runs together the per-call steps asked for in one turn of the event loop. At full load a
 * worker takes the same step for dozens of calls at once (a claim's batch marked
 * `originating`, a chunk of Originate replies, a batch of ACK replies), and a script command
 * costs the client about as much as the step itself: run together, as one script call, they
 * cost it about a third less per call (docs/benchmarks.md). Each call keeps its own reply, and
 * its own failure: a failed batch fails each of its calls, whose step is safe to run again.
 * A step alone in its turn runs as before, with no wait: the batch is sent when the current
 * turn's callbacks are done, as auto-pipelining would send it anyway.
 */
import type { EachScriptName, ScriptReply, ScriptRunner } from './scripts.js';

interface Pending {
  args: readonly (string | number)[];
  resolve: (reply: ScriptReply) => void;
  reject: (error: unknown) => void;
}

interface Queue {
  script: EachScriptName;
  keys: readonly string[];
  steps: Pending[];
}

/** At most this many calls per script call: Redis runs nothing else meanwhile (~20 µs each). */
const MAX_PER_SCRIPT = 64;

export class StepBatcher {
  private readonly queues = new Map<string, Queue>();
  private scheduled = false;

  constructor(private readonly scripts: ScriptRunner) {}

  run(script: EachScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<ScriptReply> {
    const id = `${script}\n${keys.join('\n')}`;
    let queue = this.queues.get(id);
    if (!queue) {
      queue = { script, keys, steps: [] };
      this.queues.set(id, queue);
    }
    const steps = queue.steps;
    const reply = new Promise<ScriptReply>((resolve, reject) => steps.push({ args, resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.flush());
    }
    return reply;
  }

  private flush(): void {
    this.scheduled = false;
    const queues = [...this.queues.values()];
    this.queues.clear();
    for (const { script, keys, steps } of queues) {
      for (let i = 0; i < steps.length; i += MAX_PER_SCRIPT) {
        const chunk = steps.slice(i, i + MAX_PER_SCRIPT);
        const only = chunk.length === 1 ? chunk[0] : undefined;
        if (only) {
          this.scripts.run(script, keys, only.args).then(only.resolve, only.reject);
          continue;
        }
        this.scripts.runEach(script, keys, chunk.map((s) => s.args)).then(
          (replies) => chunk.forEach((s, k) => s.resolve(replies[k] ?? null)),
          (error: unknown) => chunk.forEach((s) => s.reject(error)),
        );
      }
    }
  }
}
