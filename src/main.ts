import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from './config';
import { createLogger, startServer } from './server';

/** Entry point: load .env when present, read config once, listen, and shut down cleanly on signals. */
export async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`siprec-control: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const running = await startServer(config, logger);
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    // The last resort: requests get SHUTDOWN_GRACE_MS (8 s) before their connections are closed, so
    // only a database that does not close gets here.
    const force = setTimeout(() => {
      logger.error('shutdown did not finish within 10 s (the database did not close); exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    running.close().then(
      () => {
        logger.info('stopped; database closed');
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`siprec-control: failed to start: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
