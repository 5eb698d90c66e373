import { readFileSync } from 'node:fs'
import { binary, run } from '../../src/core/exec.ts'

/**
 * What /proc says about a process the suite started (routerd, a peer server): CPU time and
 * memory. Each process is read by its own pid: `ip netns exec` execs, so the pid the suite
 * spawned is the server's own.
 */

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux architecture we run on). */
const TICKS_PER_S = 100

/** CPU time (user + system, all threads) the process has used so far, in ms. Throws if it is gone. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the parenthesized command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S
}

export interface Memory { rssMb: number; hwmMb: number; anonMb: number; fileMb: number }

/** VmRSS, VmHWM (peak), RssAnon and RssFile (mapped binary and libraries) in MiB. Throws if the process is gone. */
export function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const mb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024
  return { rssMb: mb('VmRSS'), hwmMb: mb('VmHWM'), anonMb: mb('RssAnon'), fileMb: mb('RssFile') }
}

/** CPU ms so far of every process in the namespaces, by pid (a namespace gone counts as empty). */
export async function namespaceCpu(namespaces: readonly string[]): Promise<Map<number, number>> {
  const out = new Map<number, number>()
  for (const ns of namespaces) {
    const pids = (await run(binary('ip'), ['netns', 'pids', ns]).catch(() => ({ stdout: '' }))).stdout.split('\n').filter((p) => /^\d+$/.test(p)).map(Number)
    for (const pid of pids) {
      try { out.set(pid, cpuMs(pid)) } catch { /* gone */ }
    }
  }
  return out
}

/** CPU ms spent between two namespaceCpu() readings (processes started since count from 0). */
export function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0
  for (const [pid, ms] of after) sum += ms - (before.get(pid) ?? 0)
  return sum
}
