import { parseArgs, type ParseArgsConfig } from 'node:util';

/** What a command may touch: output streams, the environment it was given, and its working folder. */
export interface CliIo {
  // Properties, not methods: commands hand them on as plain callbacks (createStepLog(io.out)).
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

type Options = NonNullable<ParseArgsConfig['options']>;
const HELP = { help: { type: 'boolean', short: 'h' } } as const;

export interface CommandSpec<O extends Options> {
  name: string;
  /** The program as the user typed it; `siprec-control <name>` when absent. */
  prog?: string;
  usage: string;
  options: O;
}

type Values<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP; strict: true; allowPositionals: false }>>['values'];

/**
 * Strict parsing shared by every command: an unknown flag, a missing value or a stray argument prints
 * the usage to stderr (exit 2); `--help` prints it to stdout (exit 0). Returns the values, or the exit
 * code when the command must not run.
 */
export function parseCommand<const O extends Options>(spec: CommandSpec<O>, argv: string[], io: CliIo): Values<O> | number {
  let values: Values<O>;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...spec.options, ...HELP }, strict: true, allowPositionals: false }));
  } catch (err) {
    if (!isParseArgsError(err)) throw err;
    return usageError(spec, io, err.message);
  }
  if ((values as { help?: boolean }).help) {
    io.out(`${spec.usage}\n`);
    return EXIT.ok;
  }
  return values;
}

export function usageError(spec: { name: string; prog?: string; usage: string }, io: CliIo, message: string): number {
  io.err(`${spec.prog ?? `siprec-control ${spec.name}`}: ${message}\n\n${spec.usage}\n`);
  return EXIT.usage;
}

function isParseArgsError(err: unknown): err is Error {
  const code = (err as { code?: unknown })?.code;
  return err instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
