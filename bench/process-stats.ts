import { readdirSync, readFileSync } from "node:fs";

// Linux reports CPU times in clock ticks; USER_HZ is 100 on every mainstream architecture.
const TICKS_PER_SECOND = 100;

/**
 * The peak resident set size (VmHWM) of a live process, in bytes, from
 * /proc/PID/status; undefined where /proc is missing (not Linux) or the
 * process is gone.
 */
export function peakRssBytes(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) a live process has used so far, in ms; undefined without /proc. */
export function cpuTimeMs(pid: number): number | undefined {
  const fields = statFields(pid);
  if (fields === undefined) return undefined;
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/**
 * CPU time of a process and all its descendants that are alive now, in ms
 * (for PostgreSQL: the postmaster and its backends). Descendants that have
 * already exited are not counted.
 */
export function treeCpuTimeMs(rootPid: number): number | undefined {
  const parents = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    const fields = statFields(Number(entry));
    if (fields !== undefined) parents.set(Number(entry), Number(fields[1]));
  }
  const inTree = (pid: number): boolean => {
    for (let current: number | undefined = pid, hops = 0; current !== undefined && hops < 64; hops++) {
      if (current === rootPid) return true;
      current = parents.get(current);
    }
    return false;
  };
  let total = 0;
  for (const pid of parents.keys()) if (inTree(pid)) total += cpuTimeMs(pid) ?? 0;
  return total;
}

/** Busy and total CPU time of the whole machine so far (from /proc/stat), in ticks. */
export function machineCpuTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.reduce((sum, value) => sum + value, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Fields of /proc/PID/stat after the command name: [0] = state, [1] = ppid, [11] = utime, [12] = stime. */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may itself contain spaces or parentheses.
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}
