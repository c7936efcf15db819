/**
 * Which clock a worker is judged against: the median of the registered workers' offsets to
 * Redis's clock and of Redis's own (0).
 */
import { describe, expect, it } from 'vitest';
import { medianOffset } from '../../src/worker/worker.js';

describe('medianOffset', () => {
  it('is an offset someone has, so two camps never stop everyone', () => {
    // Two workers on a node whose clock is 5 s ahead, one right, and Redis: the right one goes on.
    expect(medianOffset([5000, 5000, 0, 0])).toBe(0);
    // The same, 5 s behind.
    expect(medianOffset([-5000, -5000, 0, 0])).toBe(0);
    // Three wrong alike against one right: the three agree with each other, and go on.
    expect(medianOffset([5000, 5000, 5000, 0, 0])).toBe(5000);
  });

  it('outvotes a Redis whose clock alone is off, and a worker whose clock alone is off', () => {
    expect(medianOffset([3000, 3010, 2990, 0])).toBe(2990);
    expect(medianOffset([12, -8, 5000, 0])).toBe(0);
    expect(medianOffset([40, 0])).toBe(0);
  });
});
