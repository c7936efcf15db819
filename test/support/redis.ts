export { startEmbeddedRedis as startRedis, freePort, type EmbeddedRedis as RedisServer } from '../../src/lib/embedded-redis.js';
