import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { ApplianceError } from '../../../../core/errors.ts'
import { binary, run, startProcess, type StartedProcess } from '../../../../core/exec.ts'
import { writeFileAtomic } from '../../../../core/files/atomic.ts'
import type { Logger } from '../../../../core/log.ts'
import type { LoadBalancer } from '../../../model/config.ts'
import { planHaproxy } from './plan.ts'
import { renderHaproxyConfig } from './render.ts'
import { commandSucceeded, haproxyCommand, parseShowStat } from './runtime-api.ts'

/**
 * The HAProxy that serves the load balancers of mode http and tls, run by routerd in
 * master-worker mode (`-W -S master.sock`). Every new state is rendered whole, checked with
 * `haproxy -c` before use (a config HAProxy refuses leaves the running one serving), and then
 * reached by runtime-API commands when only backends changed, else by a seamless reload: the
 * master starts a new worker that takes the listening sockets over (`expose-fd listeners`), the
 * old one finishes its connections. No HAProxy runs while there is no such load balancer.
 */

const READY_TRIES = 100
const READY_WAIT_MS = 50

export interface HaproxyServerStat { backend: string; server: string; status: string; sessions: number; totalSessions: number; check: string }

export class HaproxyManager {
  private process: StartedProcess | undefined
  private applied: { lbs: readonly LoadBalancer[]; down: ReadonlySet<string> } = { lbs: [], down: new Set() }
  private readonly dir: string
  private readonly configPath: string

  constructor(stateDir: string, private readonly certificatePath: (id: string) => string, private readonly log: Logger) {
    this.dir = join(stateDir, 'haproxy')
    this.configPath = join(this.dir, 'haproxy.cfg')
  }

  private get adminSocket(): string {
    return join(this.dir, 'admin.sock')
  }

  private get masterSocket(): string {
    return join(this.dir, 'master.sock')
  }

  /** Brings HAProxy to `lbs` (those of mode http or tls) with `down` held down; throws ERR_HAPROXY_CONFIG when HAProxy refuses the config. */
  async update(lbs: readonly LoadBalancer[], down: ReadonlySet<string>, reload = false): Promise<void> {
    const proxied = lbs.filter((r) => r.mode === 'http' || r.mode === 'tls')
    if (proxied.length === 0) {
      await this.stop()
      this.applied = { lbs: [], down }
      return
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const text = renderHaproxyConfig(proxied, { runtimeDir: this.dir, certificatePath: this.certificatePath, down })
    await this.check(text)
    writeFileAtomic(this.configPath, text)
    if (!this.running()) {
      await this.start()
    } else {
      const plan = planHaproxy(this.applied.lbs, this.applied.down, proxied, down)
      if (plan.kind === 'reload' || reload) await this.reload()
      else if (plan.kind === 'runtime') await this.runCommands(plan.commands)
    }
    this.applied = { lbs: proxied, down }
  }

  /** Per server: status, current sessions, last check (for GET /v1/lb). */
  async stats(): Promise<HaproxyServerStat[]> {
    if (!this.running()) return []
    const rows = parseShowStat(await haproxyCommand(this.adminSocket, 'show stat'))
    return rows.filter((r) => r['svname'] !== 'FRONTEND' && r['svname'] !== 'BACKEND')
      .map((r) => ({ backend: r['pxname'] ?? '', server: r['svname'] ?? '', status: r['status'] ?? '', sessions: Number(r['scur'] ?? 0), totalSessions: Number(r['stot'] ?? 0), check: r['check_status'] ?? '' }))
  }

  /** The running worker's pid (a reload changes it; runtime commands do not). */
  async workerPid(): Promise<number | undefined> {
    if (!this.running()) return undefined
    const info = await haproxyCommand(this.adminSocket, 'show info')
    const m = /^Pid: (\d+)$/m.exec(info)
    return m === null ? undefined : Number(m[1])
  }

  async stop(): Promise<void> {
    const p = this.process
    if (p === undefined) return
    this.process = undefined
    p.kill('SIGTERM')
    await p.exited
  }

  isRunning(): boolean {
    return this.running()
  }

  private running(): boolean {
    return this.process !== undefined && existsSync(this.adminSocket)
  }

  private async check(text: string): Promise<void> {
    const candidate = join(this.dir, 'haproxy.cfg.new')
    writeFileAtomic(candidate, text)
    const r = await run(binary('haproxy'), ['-c', '-q', '-f', candidate], { okCodes: [0, 1, 2], timeoutMs: 30_000 })
    if (r.exitCode !== 0) {
      const why = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /ALERT|error/i.test(l)).slice(0, 5).join('; ')
      throw new ApplianceError('ERR_HAPROXY_CONFIG', `HAProxy refuses the load balancers' config: ${why || `exit ${r.exitCode}`}`)
    }
  }

  private async start(): Promise<void> {
    await this.stop()
    rmSync(this.adminSocket, { force: true })
    rmSync(this.masterSocket, { force: true })
    const p = startProcess(binary('haproxy'), ['-W', '-S', `${this.masterSocket},mode,600`, '-f', this.configPath])
    this.process = p
    void p.exited.then((code) => {
      if (this.process !== p) return
      this.process = undefined
      this.log.error({ code, output: p.output().slice(-2000) }, 'haproxy exited; it starts again at the next change')
    })
    await this.waitReady(undefined)
    this.log.info({ pid: p.pid }, 'haproxy started')
  }

  /** Asks the master for a new worker and waits until it answers. */
  private async reload(): Promise<void> {
    const before = await this.workerPid()
    await haproxyCommand(this.masterSocket, 'reload')
    await this.waitReady(before)
    this.log.info({ before, after: await this.workerPid() }, 'haproxy reloaded')
  }

  private async runCommands(commands: readonly string[]): Promise<void> {
    for (const command of commands) {
      const answer = await haproxyCommand(this.adminSocket, command)
      if (commandSucceeded(answer)) continue
      // A server with connections cannot be deleted yet: it stays in maintenance, and the
      // config file (without it) drops it at the next reload. Anything else: reload.
      if (command.startsWith('del server ')) {
        this.log.info({ command, answer: answer.trim() }, 'haproxy server left in maintenance until its connections end')
        continue
      }
      this.log.warn({ command, answer: answer.trim() }, 'haproxy refused a runtime change; reloading')
      await this.reload()
      return
    }
  }

  /** Until the admin socket answers with a worker other than `previous`. */
  private async waitReady(previous: number | undefined): Promise<void> {
    for (let i = 0; i < READY_TRIES; i++) {
      try {
        const info = await haproxyCommand(this.adminSocket, 'show info', 1000)
        const pid = Number(/^Pid: (\d+)$/m.exec(info)?.[1])
        if (Number.isFinite(pid) && pid !== previous) return
      } catch {
        // Not listening yet.
      }
      if (this.process === undefined) break
      await new Promise((r) => setTimeout(r, READY_WAIT_MS))
    }
    throw new ApplianceError('ERR_HAPROXY_START', `HAProxy did not come up: ${this.process?.output().slice(-500) ?? 'it exited'}`)
  }
}
