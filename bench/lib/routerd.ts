import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import type { StartedProcess } from '../../src/core/exec.ts'
import type { Lab } from '../../src/lab/lab.ts'
import { RouterdApi } from './api.ts'
import { onCleanup } from './cleanup.ts'
import { cpuMs, memory, type Memory } from './proc.ts'
import { sleep } from './stats.ts'

/**
 * routerd started inside a lab's router namespace with a fresh state directory, listening on a
 * unix socket in a temp dir. Its pid is node's own (`ip netns exec` execs), so /proc/<pid>/status
 * is the daemon's.
 */

/** How routerd is started: the script under dist/ and the node flags before it. */
export interface DaemonCommand { script: string; nodeArgs: string[]; env: Record<string, string>; source: string }

/**
 * The daemon as the appliance runs it: ExecStart of appliance/routerd.service (node flags and the
 * script's name, looked up under <root>/dist). With BENCH_ROUTERD=tsc, or when the unit or the
 * bundle is missing, the plain tsc output dist/router/main.js without flags.
 */
export function daemonCommand(root: string): DaemonCommand {
  const plain: DaemonCommand = { script: join(root, 'dist', 'router', 'main.js'), nodeArgs: [], env: {}, source: 'dist/router/main.js (tsc output)' }
  if (process.env['BENCH_ROUTERD'] === 'tsc') return { ...plain, source: `${plain.source}, BENCH_ROUTERD=tsc` }
  const unit = join(root, 'appliance', 'routerd.service')
  if (!existsSync(unit)) return plain
  const text = readFileSync(unit, 'utf8')
  const exec = /^ExecStart=(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/) ?? []
  const env = Object.fromEntries([...text.matchAll(/^Environment=([^=\s]+)=(\S*)$/gm)].map((m) => [m[1] as string, m[2] as string]))
  const scriptAt = exec.findIndex((arg, i) => i > 0 && !arg.startsWith('-'))
  if (scriptAt === -1 || !basename(exec[0] ?? '').startsWith('node')) return plain
  const script = join(root, 'dist', basename(exec[scriptAt] as string))
  if (!existsSync(script)) return { ...plain, source: `${plain.source}; ${script} is not built` }
  const nodeArgs = exec.slice(1, scriptAt)
  const envText = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('')
  return { script, nodeArgs, env, source: `appliance/routerd.service: ${envText}node ${[...nodeArgs, `dist/${basename(script)}`].join(' ')}` }
}

export interface AppliedLogLine { generation: number; reason: string; kind: string; chains: number; rules: number; netOps: number; ms: number }

export interface RouterdOptions { logLevel?: string; readyTimeoutMs?: number; nodeArgs?: string[]; env?: Record<string, string> }

export class Routerd {
  private current: StartedProcess

  private constructor(
    private readonly lab: Lab,
    private readonly argv: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly socketPath: string,
    private readonly readyTimeoutMs: number,
    readonly api: RouterdApi,
    readonly dir: string,
    first: StartedProcess,
  ) {
    this.current = first
  }

  /** The running daemon process (a new one after restart()). */
  get process(): StartedProcess {
    return this.current
  }

  static async start(lab: Lab, mainJs: string, opts: RouterdOptions = {}): Promise<Routerd> {
    if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: build first (make build)`)
    const dir = mkdtempSync(join(tmpdir(), 'routerd-bench-'))
    onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }))
    const token = randomBytes(24).toString('hex')
    const socketPath = join(dir, 'api.sock')
    writeFileSync(join(dir, 'token'), token + '\n', { mode: 0o600 })
    const daemonConfig = {
      listen: { path: socketPath },
      tokenFile: join(dir, 'token'),
      stateDir: join(dir, 'state'),
      driftCheckSeconds: 0,
      logLevel: opts.logLevel ?? 'info',
    }
    writeFileSync(join(dir, 'routerd.json'), JSON.stringify(daemonConfig, null, 2))
    const argv = [...(opts.nodeArgs ?? []), mainJs, '--config', join(dir, 'routerd.json')]
    const api = new RouterdApi(socketPath, token)
    const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000
    const env = { ...process.env, ...opts.env }
    const first = await Routerd.launch(lab, argv, env, socketPath, api, readyTimeoutMs)
    return new Routerd(lab, argv, env, socketPath, readyTimeoutMs, api, dir, first)
  }

  /** Starts the daemon again with the same state directory (it applies the stored config before it answers). */
  async restart(): Promise<void> {
    this.current = await Routerd.launch(this.lab, this.argv, this.env, this.socketPath, this.api, this.readyTimeoutMs)
  }

  private static async launch(lab: Lab, argv: string[], env: NodeJS.ProcessEnv, socketPath: string, api: RouterdApi, readyTimeoutMs: number): Promise<StartedProcess> {
    rmSync(socketPath, { force: true })
    // Lab.start registers the process: lab.destroy() kills it.
    const proc = lab.start(lab.ns.rtr, process.execPath, argv, env)
    const deadline = performance.now() + readyTimeoutMs
    let exited: number | null | undefined
    void proc.exited.then((code) => { exited = code })
    for (;;) {
      if (exited !== undefined) throw new Error(`routerd exited with ${exited}: ${proc.output().slice(-2000)}`)
      if (existsSync(socketPath)) {
        const r = await api.call('GET', '/healthz', undefined, 2000).catch(() => undefined)
        if (r?.status === 200) return proc
      }
      if (performance.now() > deadline) throw new Error(`routerd did not answer within the timeout: ${proc.output().slice(-2000)}`)
      await sleep(50)
    }
  }

  /** Graceful stop (SIGTERM: routerd closes and exits 0, so e.g. --cpu-prof writes its profile); SIGKILL after the timeout. */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    this.process.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs) })
    const code = await Promise.race([this.process.exited, timeout])
    clearTimeout(timer)
    if (code !== 'timeout') return code
    this.process.kill('SIGKILL')
    return this.process.exited
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
