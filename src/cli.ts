#!/usr/bin/env node
import type { CliIo } from './cli/args';

interface Command {
  summary: string;
  /** Loaded on demand: `serve` must not pay for (or depend on) what only the tools need. */
  /** A command that does no I/O it must wait for (twiml, firewall) answers its exit code at once. */
  load(): Promise<{ run(argv: string[], io: CliIo): number | Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  serve: { summary: 'Run the server (the default; the same as npm start)', load: () => import('./cli/serve') },
  'check-config': { summary: 'Validate the environment and the routes file without starting', load: () => import('./cli/check-config') },
  twiml: { summary: 'Print the TwiML the voice route would answer for a call', load: () => import('./cli/twiml') },
  simulate: { summary: 'Play one signed call against a running instance and report each step', load: () => import('./cli/simulate') },
  purge: { summary: 'Delete calls older than an age (or RETENTION_DAYS) with their sessions and events', load: () => import('./cli/purge') },
  firewall: { summary: "Print allow rules for a recording server that receives Twilio's SIPREC", load: () => import('./cli/firewall') },
  'copy-ledger': { summary: 'Copy a SQLite ledger into the PostgreSQL ledger at DATABASE_URL (rerunnable)', load: () => import('./cli/copy-ledger') },
  migrate: { summary: 'Apply pending schema migrations to the ledger without starting the server', load: () => import('./cli/migrate') },
  backup: { summary: 'Copy the SQLite ledger to a file, safely while the server runs', load: () => import('./cli/backup') },
};

const HELP = `Usage: siprec-control [command] [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(13)}${c.summary}`)
  .join('\n')}

Run siprec-control <command> --help for a command's options and an example; --version prints the version.
Configuration comes from the environment and .env in the working folder; see .env.example.

Example:
  siprec-control check-config && siprec-control serve`;

/** Resolves with the exit code, or null when the command keeps running (serve) until a signal. */
async function run(argv: string[]): Promise<number | null> {
  const io: CliIo = {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
  };
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    io.out(`${HELP}\n`);
    return 0;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    io.out(`${(await import('./cli/version')).packageVersion()}\n`);
    return 0;
  }
  // Options without a command belong to serve, the default.
  const [name, args] = first === undefined || first.startsWith('-') ? ['serve', argv] : [first, rest];
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.err(`siprec-control: unknown command "${name}"\n\n${HELP}\n`);
    return 2;
  }
  const code = await (await command.load()).run(args, io);
  return code < 0 ? null : code;
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== null) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`siprec-control: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
