/**
 * Clean copies of this checkout for the production-path and Dockerfile tests, and a child-process
 * wrapper that waits on output. A copy holds what a fresh clone holds plus uncommitted work: tracked
 * files and untracked ones git does not ignore. Never .env, routes.json, data/, dist/ or node_modules.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams, type SpawnOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './server-process';

/** The files of a clean clone, relative to ROOT (tracked, plus untracked and not ignored; deleted ones left out). */
export function checkoutFiles(): string[] {
  const list = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  return [...new Set(list.split('\0').filter((f) => f !== ''))].filter((f) => existsSync(path.join(ROOT, f))).sort();
}

export function copyFiles(files: readonly string[], from: string, to: string): void {
  for (const f of files) {
    mkdirSync(path.dirname(path.join(to, f)), { recursive: true });
    copyFileSync(path.join(from, f), path.join(to, f));
  }
}

/**
 * node_modules as `npm ci` made it in this checkout (the same package-lock.json), so no test reaches a
 * registry or recompiles better-sqlite3. Hard links when the file system allows (fast, and npm prune
 * only unlinks), else a real copy. The hidden lockfile is the one file npm rewrites in place, so the
 * copy starts without it and npm writes its own.
 */
export function copyNodeModules(to: string): void {
  const target = path.join(to, 'node_modules');
  try {
    execFileSync('cp', ['-al', path.join(ROOT, 'node_modules'), target], { stdio: 'pipe' });
  } catch {
    rmSync(target, { recursive: true, force: true });
    execFileSync('cp', ['-a', path.join(ROOT, 'node_modules'), target], { stdio: 'pipe' });
  }
  rmSync(path.join(target, '.package-lock.json'), { force: true });
}

/** Only what npm itself needs (its cache and ~/.npmrc): nothing from the developer's or jest's npm environment. */
export function npmEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...extra };
}

export interface Child {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  /** Resolves with the exit code, or the signal's name. */
  exited: Promise<number | string>;
  /** Resolves once the output is closed: the process and everything it started that shares it are gone. */
  closed: Promise<void>;
  /** Resolves with the first match of `pattern` in the output; rejects on timeout or once the output closes. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends `signal` to the process group (what Ctrl-C in a terminal does), e.g. to npm and the node it runs. */
  signalGroup(signal: NodeJS.Signals): void;
  /** SIGKILLs the process group if any of it still runs. */
  kill: () => void;
}

export function startChild(command: string, args: string[], options: SpawnOptions & { env: Record<string, string> }): Child {
  // Its own process group, so that kill() also ends what npm or sh started.
  const child = spawn(command, args, { ...options, detached: true, stdio: 'pipe' });
  let out = '';
  let open = true;
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
    // Not started at all (not found, not executable): the error is the result.
    child.on('error', (err) => {
      out += `spawn failed: ${err.message}\n`;
      resolve(-1);
    });
  });
  const closed = new Promise<void>((resolve) => {
    const done = () => {
      open = false;
      resolve();
    };
    child.on('close', done);
    child.on('error', done);
  });
  const waitFor = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        clearInterval(poll);
        fn();
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}:\n${out}`))), timeoutMs);
      const poll = setInterval(() => {
        const m = pattern.exec(out);
        if (m) finish(() => resolve(m));
        else if (!open) finish(() => reject(new Error(`${command} ended before printing ${pattern}:\n${out}`)));
      }, 25);
    });
  const signalGroup = (signal: NodeJS.Signals) => {
    if (!open || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  return { child, output: () => out, exited, closed, waitFor, signalGroup, kill: () => signalGroup('SIGKILL') };
}

/** Runs to completion; output combined in order. */
export async function runChild(command: string, args: string[], options: SpawnOptions & { env: Record<string, string> }, timeoutMs = 60_000) {
  const c = startChild(command, args, options);
  const timer = setTimeout(c.kill, timeoutMs);
  const code = await c.exited;
  await c.closed;
  clearTimeout(timer);
  return { code, output: c.output() };
}

/** The URL from the server's "listening" log line. */
export const LISTENING = /"url":"(http:\/\/[^"]+)"[^\n]*siprec-control listening/;
