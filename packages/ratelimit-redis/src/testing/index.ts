export {
  startRedisServer,
  redisAvailability,
  findRedisServer,
  type RedisServer,
  type RedisAvailability,
  type StartRedisServerOptions,
} from './redis-server.js';
