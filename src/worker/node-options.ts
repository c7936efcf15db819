/**
 * Node.js flags the worker runs with (NODE_OPTIONS in its pod). A worker allocates a little
 * for every call and keeps little, so V8's default young generation (semi-spaces up to
 * 32 MB) mostly holds garbage: at a steady 1,000 calls/s it took the worker to 244 MB RSS,
 * and to 306 MB at 3,000/s, over a 256Mi limit. Semi-spaces of 8 MB keep it at 157 and
 * 185 MB with the same throughput; 2 and 4 MB saved no more memory and cost throughput
 * (docs/benchmarks.md).
 */
export const WORKER_NODE_OPTIONS = '--max-semi-space-size=8';
