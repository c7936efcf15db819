/**
 * Whether the central answers. A connected AMI socket is not enough: a hung Asterisk keeps
 * TCP open and answers nothing, and every Originate sent to it then may or may not be
 * dialled later. So the worker pings, and treats the central as down once nothing has
 * answered for `downAfterMs` — it stops taking and sending calls until an answer comes.
 *
 * Pure apart from the injected ping and clock; the worker calls `tick()` on a timer.
 */
export interface CentralHealthOptions {
  /** Sends a Ping; resolves when the central answers. */
  ping: (timeoutMs: number) => Promise<unknown>;
  intervalMs: number;
  downAfterMs: number;
  now: () => number;
  onChange: (healthy: boolean) => void;
}

export class CentralHealth {
  private connected = false;
  private lastAnswer = Number.NEGATIVE_INFINITY;
  private lastPing = Number.NEGATIVE_INFINITY;
  private pinging = false;
  private reported = false;

  constructor(private readonly options: CentralHealthOptions) {}

  get healthy(): boolean {
    return this.connected && this.options.now() - this.lastAnswer < this.options.downAfterMs;
  }

  /** AMI logged in: a fresh session counts as an answer. */
  up(): void {
    this.connected = true;
    this.answered();
  }

  down(): void {
    this.connected = false;
    this.check();
  }

  /** Anything the central answered (a Ping, an Originate reply) proves it is alive. */
  answered(): void {
    this.lastAnswer = this.options.now();
    this.check();
  }

  /** Pings when one is due and none is outstanding; reports a change of health. */
  tick(): void {
    const now = this.options.now();
    if (this.connected && !this.pinging && now - this.lastPing >= this.options.intervalMs) {
      this.pinging = true;
      this.lastPing = now;
      // A late answer still counts: the central is back.
      this.options
        .ping(Math.max(this.options.downAfterMs * 5, 10_000))
        .then(() => this.answered(), () => undefined)
        .finally(() => {
          this.pinging = false;
        });
    }
    this.check();
  }

  private check(): void {
    const healthy = this.healthy;
    if (healthy === this.reported) return;
    this.reported = healthy;
    this.options.onChange(healthy);
  }
}
