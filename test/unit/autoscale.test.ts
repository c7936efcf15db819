/** The autoscaler's arithmetic: the replica count a signal asks for, and scale-down stabilisation. */
import { describe, expect, it } from 'vitest';
import { recommend, Stabilizer } from '../../src/operator/autoscale/recommend.js';

const bounds = { minReplicas: 1, maxReplicas: 10, scaleToZero: false };

describe('recommend', () => {
  it('asks for one worker per `threads` calls queued or in flight, within min and max', () => {
    expect(recommend(0, 10, bounds)).toEqual({ replicas: 1, wanted: 0 });
    expect(recommend(1, 10, bounds)).toEqual({ replicas: 1, wanted: 1 });
    expect(recommend(11, 10, bounds)).toEqual({ replicas: 2, wanted: 2 });
    expect(recommend(10_000, 10, bounds)).toEqual({ replicas: 10, wanted: 1000 });
    expect(recommend(35, 10, { ...bounds, minReplicas: 5 }).replicas).toBe(5);
  });

  it('goes to zero only when allowed and idle, and wakes on the first call', () => {
    expect(recommend(0, 10, { ...bounds, scaleToZero: true }).replicas).toBe(0);
    expect(recommend(1, 10, { ...bounds, minReplicas: 3, scaleToZero: true }).replicas).toBe(3);
    expect(recommend(0, 10, { ...bounds, minReplicas: 3 }).replicas).toBe(3);
  });
});

describe('Stabilizer', () => {
  it('follows a rise at once', () => {
    const s = new Stabilizer(60_000);
    expect(s.add(0, 1)).toBe(1);
    expect(s.add(500, 8)).toBe(8);
    expect(s.add(1000, 10)).toBe(10);
  });

  it('holds the highest value of the window before coming down', () => {
    const s = new Stabilizer(60_000);
    s.add(0, 10);
    expect(s.add(1_000, 2)).toBe(10);
    expect(s.add(59_999, 2)).toBe(10);
    expect(s.add(60_001, 2)).toBe(2);
  });

  it('steps down through the maxima that age out one after another', () => {
    const s = new Stabilizer(10_000);
    s.add(0, 9);
    s.add(5_000, 6);
    s.add(8_000, 3);
    expect(s.value(9_000)).toBe(9);
    expect(s.value(10_001)).toBe(6);
    expect(s.value(15_001)).toBe(3);
    expect(s.value(100_000)).toBe(3);
  });

  it('with a zero window follows every sample', () => {
    const s = new Stabilizer(0);
    s.add(0, 9);
    expect(s.add(1, 2)).toBe(2);
  });
});
