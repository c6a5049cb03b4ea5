#!/usr/bin/env node
import { main as serve } from './main';

const HELP = `Usage: siprec-control [command]

Commands:
  serve    Run the server (the default; the same as npm start)

Configuration comes from the environment and .env; see .env.example.`;

async function run(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (command === 'serve') {
    if (rest.includes('--help')) {
      process.stdout.write('Usage: siprec-control serve\n\nRuns the server with the configuration from the environment and .env.\n');
      return 0;
    }
    await serve();
    return -1; // keeps running until a signal
  }
  process.stderr.write(`siprec-control: unknown command "${command}"\n\n${HELP}\n`);
  return 2;
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`siprec-control: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
