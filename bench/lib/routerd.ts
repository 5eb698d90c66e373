import { join } from 'node:path'
import type { StartedProcess } from '../../src/core/exec.ts'
import { Daemon } from '../../src/lab/daemon.ts'
import { describeDaemonCommand, readDaemonCommand, type DaemonCommand } from '../../src/lab/daemon-command.ts'
import type { Lab } from '../../src/lab/lab.ts'
import { RouterdApi } from './api.ts'
import { onCleanup } from './cleanup.ts'
import { cpuMs, memory, type Memory } from './proc.ts'

/**
 * routerd for the suites: src/lab/daemon.ts (the unit's command, a fresh directory, a unix socket)
 * inside a lab's router namespace, plus what the suites read off it: the API, CPU time, memory
 * (/proc/<pid>, node's own pid) and the "applied" log lines.
 */

/** What the suites run and the line their results record for it. */
export interface BenchDaemon { command: DaemonCommand; source: string }

/**
 * The daemon as the appliance runs it (appliance/routerd.service). With BENCH_ROUTERD=tsc the plain
 * tsc output dist/router/main.js without the unit's flags and environment (diagnosis only).
 */
export function daemonCommand(root: string): BenchDaemon {
  const unit = readDaemonCommand('routerd', root)
  if (process.env['BENCH_ROUTERD'] !== 'tsc') return { command: unit, source: describeDaemonCommand(unit, root) }
  const plain = { ...unit, nodeArgs: [], env: {}, script: join(root, 'dist', 'router', 'main.js') }
  return { command: plain, source: 'dist/router/main.js (tsc output), BENCH_ROUTERD=tsc' }
}

export interface AppliedLogLine { generation: number; reason: string; kind: string; chains: number; rules: number; netOps: number; ms: number }

export interface RouterdOptions { logLevel?: string; readyTimeoutMs?: number; nodeArgs?: readonly string[] }

export class Routerd {
  private constructor(private readonly daemon: Daemon, readonly api: RouterdApi) {}

  /** The running daemon process (a new one after restart()). */
  get process(): StartedProcess {
    return this.daemon.process
  }

  get dir(): string {
    return this.daemon.dir
  }

  /** Starts `command` (extra node flags from `opts.nodeArgs`) and waits for /healthz; stopped and removed by the suite's cleanup. */
  static async start(lab: Lab, command: DaemonCommand, opts: RouterdOptions = {}): Promise<Routerd> {
    const daemon = await Daemon.launch({
      name: 'routerd', netns: lab.ns.rtr, command, nodeArgs: opts.nodeArgs ?? [], timeoutMs: opts.readyTimeoutMs ?? 30_000,
      config: { driftCheckSeconds: 0, logLevel: opts.logLevel ?? 'info' },
    })
    onCleanup(`routerd in ${daemon.dir}`, () => daemon.close())
    return new Routerd(daemon, new RouterdApi(daemon.socket, daemon.token))
  }

  /** Starts the daemon again with the same state directory (it applies the stored config before it answers). */
  restart(): Promise<void> {
    return this.daemon.restart()
  }

  /** Graceful stop (SIGTERM: routerd closes and exits 0, so e.g. --cpu-prof writes its profile); SIGKILL after the timeout. */
  stop(timeoutMs = 10_000): Promise<number | null> {
    return this.daemon.stop(timeoutMs)
  }

  /** CPU time (user + system) the daemon has used so far, in ms (/proc/<pid>/stat). */
  cpuMs(): number {
    return cpuMs(this.process.pid)
  }

  /** VmRSS, VmHWM (peak), RssAnon and RssFile (the mapped node binary and libraries) of the daemon, in MiB. */
  memory(): Memory {
    return memory(this.process.pid)
  }

  /** The "applied" log lines the daemon wrote so far (level info): per-apply kind, rules and ms. */
  appliedLines(): AppliedLogLine[] {
    const out: AppliedLogLine[] = []
    for (const line of this.process.output().split('\n')) {
      if (!line.includes('"msg":"applied"')) continue
      try { out.push(JSON.parse(line) as AppliedLogLine) } catch { /* a line cut by the output cap */ }
    }
    return out
  }
}
