import { main } from '../main';
import { parseCommand, type CliIo } from './args';

const spec = {
  name: 'serve',
  usage: `Usage: siprec-control serve

Runs the server with the configuration from the environment and .env (the same as npm start).
Stops cleanly on SIGTERM or SIGINT. Check the configuration first with siprec-control check-config.

Example:
  PORT=8080 siprec-control serve`,
  options: {},
} as const;

/** Returns -1: the server keeps running until a signal ends the process. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommand(spec, argv, io);
  if (typeof values === 'number') return values;
  await main();
  return -1;
}
