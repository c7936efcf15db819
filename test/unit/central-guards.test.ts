import { describe, expect, it } from 'vitest';
import { ChannelSlots, OriginateTokens } from '../../src/worker/guards.js';
import { CentralHealth } from '../../src/worker/health.js';
import type { TokenGrant } from '../../src/protocol/central-store.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ChannelSlots', () => {
  it('shares one round trip among concurrent syncs and reads the demand when it starts', async () => {
    const pushes: Array<[number, number]> = [];
    let release: (() => void) | undefined;
    let demand = { inUse: 0, target: 4 };
    const slots = new ChannelSlots(
      async (inUse, target) => {
        pushes.push([inUse, target]);
        await new Promise<void>((resolve) => (release = resolve));
        return Math.min(target, 3);
      },
      () => demand,
    );
    const first = slots.sync();
    demand = { inUse: 1, target: 6 };
    const second = slots.sync();
    const third = slots.sync();
    release?.();
    await first;
    expect(slots.held).toBe(3);
    await tick();
    release?.();
    await Promise.all([second, third]);
    expect(pushes).toEqual([[0, 4], [1, 6]]);
  });

  it('while a shrink is in flight, counts only what it keeps: nobody claims into slots being given back', async () => {
    let release: (() => void) | undefined;
    let demand = { inUse: 2, target: 8 };
    const slots = new ChannelSlots(
      async (_inUse, target) => {
        await new Promise<void>((resolve) => (release = resolve));
        return target;
      },
      () => demand,
    );
    const grow = slots.sync();
    expect(slots.held).toBe(0); // a growth in flight promises nothing yet
    release?.();
    await grow;
    expect(slots.held).toBe(8);
    demand = { inUse: 2, target: 2 };
    const shrink = slots.sync();
    expect(slots.held).toBe(2); // Redis may already hold 2: the other 6 are not ours to fill
    release?.();
    await shrink;
    expect(slots.held).toBe(2);
  });

  it('after a failed round trip assumes a shrink happened and a growth did not', async () => {
    let fail = false;
    let demand = { inUse: 0, target: 5 };
    const slots = new ChannelSlots(
      async (_inUse, target) => {
        if (fail) throw new Error('connection lost');
        return target;
      },
      () => demand,
    );
    await slots.sync();
    expect(slots.held).toBe(5);
    fail = true;
    demand = { inUse: 1, target: 2 };
    await slots.sync();
    expect(slots.held).toBe(2);
    demand = { inUse: 1, target: 9 };
    await slots.sync();
    expect(slots.held).toBe(2);
  });
});

describe('OriginateTokens', () => {
  it('asks once per batch, hands tokens out in order and waits for the next one', async () => {
    const asked: number[] = [];
    const grants: TokenGrant[] = [{ granted: 2, waitMs: 40 }, { granted: 1, waitMs: 0 }];
    const slept: number[] = [];
    const tokens = new OriginateTokens(
      async (wanted) => {
        asked.push(wanted);
        return grants.shift() ?? { granted: wanted, waitMs: 0 };
      },
      async (ms) => {
        slept.push(ms);
      },
    );
    const order: number[] = [];
    const takes = [0, 1, 2].map((i) => tokens.take(() => false).then((ok) => ok && order.push(i)));
    await Promise.all(takes);
    expect(asked).toEqual([3, 1]);
    expect(slept).toEqual([40]);
    expect(order).toEqual([0, 1, 2]);
  });

  it('while the bucket has tokens, a new batch does not wait for the round trip of the one before', async () => {
    const replies: Array<() => void> = [];
    const tokens = new OriginateTokens(
      (wanted) => new Promise<TokenGrant>((resolve) => replies.push(() => resolve({ granted: wanted, waitMs: 0 }))),
      async () => undefined,
    );
    const first = tokens.take(() => false);
    await tick();
    const second = tokens.take(() => false);
    await tick();
    // Both asked before either was answered.
    expect(replies).toHaveLength(2);
    replies[1]?.();
    expect(await second).toBe(true);
    replies[0]?.();
    expect(await first).toBe(true);
  });

  it('once the bucket is dry, later callers wait for the one retry instead of asking on their own', async () => {
    const asked: number[] = [];
    let wake: (() => void) | undefined;
    const tokens = new OriginateTokens(
      async (wanted) => {
        asked.push(wanted);
        return asked.length === 1 ? { granted: 0, waitMs: 25 } : { granted: wanted, waitMs: 0 };
      },
      (ms) => {
        expect(ms).toBe(25);
        return new Promise<void>((resolve) => (wake = resolve));
      },
    );
    const a = tokens.take(() => false);
    await tick();
    const b = tokens.take(() => false);
    const c = tokens.take(() => false);
    await tick();
    expect(asked).toEqual([1]);
    wake?.();
    expect(await Promise.all([a, b, c])).toEqual([true, true, true]);
    expect(asked).toEqual([1, 3]);
  });

  it('a caller left short by a dry bucket is served before callers who came later, whichever batch gets the token', async () => {
    const replies: Array<(grant: TokenGrant) => void> = [];
    let wake: (() => void) | undefined;
    const tokens = new OriginateTokens(
      (wanted) => new Promise<TokenGrant>((resolve) => replies.push(resolve)).then((g) => ({ ...g, granted: Math.min(g.granted, wanted) })),
      () => new Promise<void>((resolve) => (wake = resolve)),
    );
    const served: string[] = [];
    const take = (name: string) => tokens.take(() => false).then((ok) => ok && served.push(name));
    const o1 = take('o1');
    const o2 = take('o2');
    await tick();
    const m1 = take('m1'); // asks on its own while the first batch is in flight
    await tick();
    expect(replies).toHaveLength(2);
    replies[0]?.({ granted: 1, waitMs: 10 }); // one token for o1 and o2
    await o1;
    replies[1]?.({ granted: 1, waitMs: 10 }); // m1's batch brings one: o2 waited longer
    await o2;
    expect(served).toEqual(['o1', 'o2']);
    wake?.();
    await tick();
    replies[2]?.({ granted: 1, waitMs: 0 });
    await m1;
    expect(served).toEqual(['o1', 'o2', 'm1']);
  });

  it('a caller that no longer wants a token gets false and its token goes to the next', async () => {
    let cancelled = false;
    const asked: number[] = [];
    const tokens = new OriginateTokens(
      async (wanted) => {
        asked.push(wanted);
        cancelled = true; // the first caller's call was given back during the round trip
        return { granted: 1, waitMs: 10 };
      },
      async () => undefined,
    );
    const a = tokens.take(() => cancelled);
    const b = tokens.take(() => false);
    expect(await a).toBe(false);
    expect(await b).toBe(true);
    expect(asked).toEqual([2]);
  });
});

describe('CentralHealth', () => {
  function setup(intervalMs = 1000, downAfterMs = 2000) {
    let now = 0;
    const changes: boolean[] = [];
    const pings: Array<{ answer: () => void }> = [];
    const health = new CentralHealth({
      intervalMs,
      downAfterMs,
      now: () => now,
      onChange: (healthy) => changes.push(healthy),
      ping: () => new Promise<void>((resolve) => pings.push({ answer: resolve })),
    });
    return { health, changes, pings, advance: (ms: number) => (now += ms) };
  }

  it('goes down once nothing answered for downAfterMs, and up on the next answer', async () => {
    const { health, changes, pings, advance } = setup();
    health.up();
    expect(health.healthy).toBe(true);
    health.tick();
    expect(pings).toHaveLength(1);
    pings[0]?.answer();
    await tick();
    // The central stalls: one ping outstanding, no second one while it is.
    advance(1000);
    health.tick();
    expect(pings).toHaveLength(2);
    advance(999);
    health.tick();
    expect(pings).toHaveLength(2);
    expect(health.healthy).toBe(true);
    advance(1);
    health.tick();
    expect(health.healthy).toBe(false);
    expect(changes).toEqual([true, false]);
    pings[1]?.answer(); // the late answer: it is back
    await tick();
    expect(health.healthy).toBe(true);
    expect(changes).toEqual([true, false, true]);
  });

  it('a lost connection is down at once; pings only while connected', () => {
    const { health, changes, pings } = setup();
    health.up();
    health.down();
    health.tick();
    expect(pings).toHaveLength(0);
    expect(health.healthy).toBe(false);
    expect(changes).toEqual([true, false]);
  });
});
