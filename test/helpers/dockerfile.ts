/**
 * Reads a Dockerfile and runs its steps without a Docker engine, so that a test can prove the build
 * and run steps still work. Each stage gets a folder that stands in for its root file system; the
 * host's node stands in for the base image's (same major version, checked); RUN commands run in
 * /bin/sh with every absolute path mapped into the stage's folder. What only the image has is shimmed:
 * `apt-get install` checks that the package is installed on this machine, `chown` knows the base
 * image's users. `RUN npm ci` is served like Docker's layer cache: when the stage's lockfile is this
 * checkout's, the layer is the checkout's node_modules (made by npm ci from that very file).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { copyNodeModules, runChild } from './checkout-copy';
import { ROOT } from './server-process';

export interface Instruction {
  keyword: string;
  /** The text after the keyword, continuation lines joined. */
  args: string;
  line: number;
}

export interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}

export interface Stage {
  name: string;
  base: string;
  /** WORKDIR, COPY and RUN in file order: the steps whose order matters. */
  steps: Array<{ kind: 'workdir'; path: string } | { kind: 'copy'; copy: Copy } | { kind: 'run'; command: string[] | string }>;
  env: Record<string, string>;
  user: string;
  volumes: string[];
  expose: string[];
  healthcheck?: { options: Record<string, string>; command: string[] | string };
  cmd?: string[] | string;
}

/** Logical lines: comments dropped, `\` continuations joined (a comment inside a continuation too). */
export function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line) || (pending === null && line.trim() === '')) return;
    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, '') : line;
    pending = pending ? { text: `${pending.text} ${body.trim()}`, line: pending.line } : { text: body.trim(), line: i + 1 };
    if (!continued) {
      const m = /^(\S+)\s*(.*)$/.exec(pending.text)!;
      out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: pending.line });
      pending = null;
    }
  });
  return out;
}

/** Exec form (a JSON array) or shell form (a string for /bin/sh -c). */
function commandForm(args: string): string[] | string {
  const trimmed = args.trim();
  if (trimmed.startsWith('[')) {
    const parsed: unknown = JSON.parse(trimmed);
    if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not a JSON array of strings: ${args}`);
    return parsed;
  }
  return trimmed;
}

/** Words split on blanks, with "…" and '…' quoting, as ENV and COPY read them. */
function words(args: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(args); m; m = re.exec(args)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3]!));
  return out;
}

/** `--name=value` flags at the start of an instruction, and what follows them. */
function flags(args: string): { flags: Record<string, string>; rest: string } {
  const found: Record<string, string> = {};
  let rest = args.trim();
  for (let m = /^--([a-z-]+)=(\S+)\s*/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s*/.exec(rest)) {
    found[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  return { flags: found, rest };
}

const KNOWN = new Set(['FROM', 'WORKDIR', 'COPY', 'RUN', 'ENV', 'VOLUME', 'USER', 'EXPOSE', 'HEALTHCHECK', 'CMD']);

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions(text)) {
    if (!KNOWN.has(ins.keyword)) throw new Error(`line ${ins.line}: ${ins.keyword} is not emulated; teach test/helpers/dockerfile.ts or do without it`);
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args.trim());
      if (!m) throw new Error(`line ${ins.line}: FROM ${ins.args}`);
      stages.push({ name: m[2] ?? String(stages.length), base: m[1]!, steps: [], env: {}, user: 'root', volumes: [], expose: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`line ${ins.line}: ${ins.keyword} before FROM`);
    switch (ins.keyword) {
      case 'WORKDIR':
        stage.steps.push({ kind: 'workdir', path: ins.args.trim() });
        break;
      case 'COPY': {
        const { flags: f, rest } = flags(ins.args);
        const unknown = Object.keys(f).filter((k) => k !== 'from');
        if (unknown.length) throw new Error(`line ${ins.line}: COPY --${unknown[0]} is not emulated`);
        const parts = rest.trim().startsWith('[') ? (commandForm(rest) as string[]) : words(rest);
        if (parts.length < 2) throw new Error(`line ${ins.line}: COPY needs a source and a destination`);
        stage.steps.push({ kind: 'copy', copy: { from: f.from, sources: parts.slice(0, -1), dest: parts.at(-1)! } });
        break;
      }
      case 'RUN':
        stage.steps.push({ kind: 'run', command: commandForm(ins.args) });
        break;
      case 'ENV': {
        const w = words(ins.args);
        if (w.length > 0 && !w[0]!.includes('=')) stage.env[w[0]!] = w.slice(1).join(' ');
        else for (const pair of w) stage.env[pair.slice(0, pair.indexOf('='))] = pair.slice(pair.indexOf('=') + 1);
        break;
      }
      case 'VOLUME':
        stage.volumes.push(...(ins.args.trim().startsWith('[') ? (commandForm(ins.args) as string[]) : words(ins.args)));
        break;
      case 'USER':
        stage.user = ins.args.trim();
        break;
      case 'EXPOSE':
        stage.expose.push(...words(ins.args));
        break;
      case 'HEALTHCHECK': {
        const options: Record<string, string> = {};
        let rest = ins.args.trim();
        for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
          options[m[1]!] = m[2]!;
          rest = rest.slice(m[0].length);
        }
        const cmd = /^CMD\s+(.*)$/i.exec(rest);
        if (!cmd) throw new Error(`line ${ins.line}: HEALTHCHECK without CMD`);
        stage.healthcheck = { options, command: commandForm(cmd[1]!) };
        break;
      }
      case 'CMD':
        stage.cmd = commandForm(ins.args);
        break;
    }
  }
  return stages;
}

/**
 * .dockerignore as Docker reads it: each pattern is matched against the path and each of its parent
 * folders (so `!src` brings back everything under src/), the last matching pattern wins, `!` re-includes.
 */
export function dockerignore(text: string): (file: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, '');
      const source = pattern
        .split(/(\*\*|\*|\?)/)
        .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('');
      return { negate, re: new RegExp(`^${source}$`) };
    });
  return (file) => {
    const prefixes = file.split('/').map((_, i, all) => all.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.negate;
    return excluded;
  };
}

/** The base image's users (node:*-bookworm-slim's /etc/passwd), for chown and USER. */
export const IMAGE_USERS: Record<string, { uid: number; gid: number }> = { root: { uid: 0, gid: 0 }, node: { uid: 1000, gid: 1000 } };

const SHIMS: Record<string, string> = {
  'apt-get': `#!/bin/sh
# apt-get in the emulated image: what the image would install must already be on this machine.
case "$1" in
  update|clean) exit 0 ;;
  install) shift ;;
  *) echo "apt-get $1: not emulated" >&2; exit 1 ;;
esac
for p in "$@"; do
  case "$p" in -*) continue ;; esac
  dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || { echo "apt-get install: $p is not installed on this machine" >&2; exit 1; }
done
`,
  chown: `#!/bin/sh
# chown in the emulated image: the image's user names as numbers, which this machine may not know.
args=""
for a in "$@"; do
  ${Object.entries(IMAGE_USERS)
    .map(([name, { uid, gid }]) => `[ "$a" = "${name}:${name}" ] && a="${uid}:${gid}"; [ "$a" = "${name}" ] && a="${uid}"`)
    .join('\n  ')}
  args="$args '$a'"
done
eval exec /bin/chown $args
`,
};

export interface EmulatedStage {
  stage: Stage;
  /** The folder that stands in for the stage's root file system. */
  root: string;
  workdir: string;
  /** Maps an absolute path in the image to the folder that stands in for it. */
  hostPath(imagePath: string): string;
  /** The stage's ENV with image paths mapped to host paths. */
  env: Record<string, string>;
  /** Who the image runs as: its uid and gid here when this test runs as root, else nothing (this user). */
  runAs: { uid: number; gid: number } | Record<string, never>;
  /** A command as argv: shell form through /bin/sh with its absolute paths mapped; exec form with its path arguments mapped. */
  argv(command: string[] | string): string[];
  log: string[];
}

// An absolute path in a shell command: not a URL's //, not /dev (the image's /dev is the host's).
const ABSOLUTE = /(^|[\s=:"'(])(\/(?!\/|dev\/)[^\s"';&|)]*)/g;
const isImagePath = (arg: string) => arg.startsWith('/') && !arg.startsWith('//') && !arg.startsWith('/dev/');

/**
 * Runs every stage of `stages` under `work`, copying from `context` (the build context folder).
 * Returns the stages as built. Throws with the step's output when a step fails.
 */
export async function buildStages(stages: Stage[], context: string, work: string): Promise<EmulatedStage[]> {
  const shimDir = path.join(work, 'shims');
  mkdirSync(shimDir, { recursive: true });
  for (const [name, body] of Object.entries(SHIMS)) writeFileSync(path.join(shimDir, name), body, { mode: 0o755 });
  const built: EmulatedStage[] = [];
  for (const stage of stages) {
    const root = path.join(work, `stage-${stage.name}`);
    mkdirSync(root, { recursive: true });
    chmodSync(work, 0o755); // the image's unprivileged user must reach its root
    chmodSync(root, 0o755);
    const hostPath = (p: string) => path.join(root, p);
    const mapped = (text: string) => text.replace(ABSOLUTE, (_m, pre: string, p: string) => pre + hostPath(p));
    const env = Object.fromEntries(Object.entries(stage.env).map(([k, v]) => [k, v.startsWith('/') ? hostPath(v) : v]));
    const user = IMAGE_USERS[stage.user];
    if (!user) throw new Error(`USER ${stage.user} is not one of the base image's users (${Object.keys(IMAGE_USERS).join(', ')})`);
    const emulated: EmulatedStage = {
      stage,
      root,
      workdir: '/',
      hostPath,
      env,
      runAs: process.getuid?.() === 0 ? user : {},
      // Exec form: only whole arguments that are paths (a script given to node -e stays as written).
      argv: (command) => (typeof command === 'string' ? ['/bin/sh', '-c', mapped(command)] : command.map((a) => (isImagePath(a) ? hostPath(a) : a))),
      log: [],
    };
    const runEnv = () => ({ PATH: `${shimDir}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '/root', npm_config_offline: 'true', ...env });
    for (const step of stage.steps) {
      if (step.kind === 'workdir') {
        emulated.workdir = path.posix.resolve(emulated.workdir, step.path);
        mkdirSync(hostPath(emulated.workdir), { recursive: true });
      } else if (step.kind === 'copy') {
        const { from, sources, dest } = step.copy;
        const source = from === undefined ? null : built.find((b) => b.stage.name === from);
        if (from !== undefined && !source) throw new Error(`COPY --from=${from}: no earlier stage has that name`);
        const target = hostPath(path.posix.resolve(emulated.workdir, dest));
        const intoFolder = dest.endsWith('/') || sources.length > 1;
        for (const s of sources) {
          const src = source ? source.hostPath(path.posix.resolve(source.workdir, s)) : path.join(context, s);
          if (!existsSync(src)) throw new Error(`COPY ${s}: not in the ${source ? `stage ${from}` : 'build context'} (.dockerignore?)`);
          if (statSync(src).isDirectory()) {
            mkdirSync(target, { recursive: true });
            execFileSync('cp', ['-a', `${src}/.`, target]); // a folder's contents, as COPY does
          } else {
            mkdirSync(intoFolder ? target : path.dirname(target), { recursive: true });
            execFileSync('cp', ['-a', src, intoFolder ? path.join(target, path.basename(s)) : target]);
          }
        }
        emulated.log.push(`COPY ${from ? `--from=${from} ` : ''}${sources.join(' ')} ${dest}`);
      } else {
        const cwd = hostPath(emulated.workdir);
        const text = typeof step.command === 'string' ? step.command : step.command.join(' ');
        if (/^npm ci(\s|$)/.test(text) && cachedNpmCi(cwd)) {
          emulated.log.push(`RUN ${text}: served from the checkout's node_modules (same package-lock.json), as a layer cache would`);
          continue;
        }
        const [cmd, ...args] = emulated.argv(step.command);
        const result = await runChild(cmd!, args, { cwd, env: runEnv() }, 180_000);
        emulated.log.push(`RUN ${text}: exit ${result.code}`);
        if (result.code !== 0) throw new Error(`stage ${stage.name}: RUN ${text} exited ${result.code}:\n${result.output}`);
      }
    }
    built.push(emulated);
  }
  return built;
}

/** `npm ci` in a folder holding this checkout's package.json and package-lock.json: the checkout's node_modules. */
function cachedNpmCi(cwd: string): boolean {
  const same = (f: string) => existsSync(path.join(cwd, f)) && readFileSync(path.join(cwd, f), 'utf8') === readFileSync(path.join(ROOT, f), 'utf8');
  if (!same('package.json') || !same('package-lock.json') || !existsSync(path.join(ROOT, 'node_modules', '.package-lock.json'))) return false;
  copyNodeModules(cwd);
  return true;
}
