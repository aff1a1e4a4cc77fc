export {
  startPostgresServer,
  postgresAvailability,
  findPostgresBinDir,
  type PostgresServer,
  type PostgresAvailability,
  type StartPostgresServerOptions,
} from './postgres-server.js';
