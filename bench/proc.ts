import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * Server-side measurements read from /proc, so that neither server needs any code of ours to be
 * measured: CPU time (utime + stime, every thread: GC and libuv included) and memory (VmRSS, VmHWM).
 */

let ticksPerSecond: number | undefined;

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on nearly every Linux). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU time the process has used so far, in microseconds (resolution: one clock tick, 10 ms). */
export function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / clockTicks();
}

/**
 * CPU time every process on the machine has used so far, in microseconds (/proc/stat, all cores:
 * user, nice, system, irq, softirq, steal). Minus the server's and the client's own, it tells how
 * much else ran during a measurement: on a shared 2-core machine that decides whether a run counts.
 */
export function machineBusyMicros(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1e6) / clockTicks();
}

function statusField(pid: number, name: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`/proc/${pid}/status has no ${name}`);
  return Number(m[1]) / 1024;
}

/** Resident set size now, in MiB. */
export const rssMb = (pid: number) => statusField(pid, 'VmRSS');
/** Peak resident set size over the process's life, in MiB. */
export const peakRssMb = (pid: number) => statusField(pid, 'VmHWM');

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  node: string;
  os: string;
  date: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
  };
}

function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The pid of a PostgreSQL cluster's postmaster, from the first line of <dataDir>/postmaster.pid. */
export function postmasterPid(dataDir: string): number {
  const pid = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n', 1)[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${dataDir}/postmaster.pid`);
  return pid;
}

/**
 * CPU time a PostgreSQL cluster has used so far, in microseconds: the postmaster, every live child
 * (backends, walwriter, checkpointer…), and the children that have exited since it started (the
 * postmaster reaps them, so their time is in its cutime/cstime). Taken before and after a run, the
 * difference holds the backends that a pool opened or closed in between too.
 */
export function clusterCpuMicros(postmaster: number): number {
  const own = statFields(postmaster);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fields: string[];
    try {
      fields = statFields(Number(entry));
    } catch {
      continue; // exited while we looked: its time is already in the postmaster's cutime
    }
    if (Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1e6) / clockTicks();
}

/**
 * Waits (at most `maxSeconds`) for a second in which the rest of the machine used under
 * `thresholdPct` of a core: on a shared 2-core machine a run that starts while another tenant
 * compiles measures the tenant. Returns how long it waited and the last second's figure; the
 * measurement itself still reports its own "other CPU %".
 */
export async function waitForQuiet(maxSeconds: number, thresholdPct = 25): Promise<{ waitedSeconds: number; otherPct: number }> {
  const t0 = Date.now();
  let otherPct = NaN;
  do {
    const m0 = machineBusyMicros();
    const c0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 1000));
    const own = process.cpuUsage(c0);
    otherPct = ((machineBusyMicros() - m0 - own.user - own.system) / 1e6) * 100;
    if (otherPct < thresholdPct) break;
  } while (Date.now() - t0 < maxSeconds * 1000);
  return { waitedSeconds: (Date.now() - t0) / 1000, otherPct };
}
