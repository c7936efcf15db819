/**
 * Node.js flags the worker runs with (NODE_OPTIONS in its pod). A worker allocates 60–70 kB
 * for every call and keeps little of it, so the young generation's size sets how often
 * the live calls are copied by a collection. V8's default (semi-spaces up to 32 MB) mostly
 * holds garbage and took a worker at 3,000 calls/s to about 306 MB RSS, over a 256Mi limit.
 * 16 MB semi-spaces spend no more CPU per call than 32 MB and stay near 160 MB at a steady
 * 1,000 calls/s and 220 MB at 3,000; 8 MB saved 10–15 MB more but spent 10–20 % more CPU
 * per call at full load (docs/benchmarks.md, "The worker's young generation").
 */
export const WORKER_NODE_OPTIONS = '--max-semi-space-size=16';
