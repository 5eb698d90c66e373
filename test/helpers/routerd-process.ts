import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StartedProcess } from '../../src/core/exec.ts'
import type { ApiMethod } from '../../src/core/http/client.ts'
import { Lab } from '../../src/lab/lab.ts'
import { routerdArgs, routerdEnv } from '../../src/lab/routerd-command.ts'
import { eventually, httpUnix, TOKEN } from './router-harness.ts'

/**
 * routerd as the appliance runs it (the bundle, the unit's flags and environment) inside a fresh
 * lab's router namespace, reached over a unix socket: what the in-process services (DHCP, DNS)
 * need, since their sockets live in the daemon's own namespace.
 */
export class RouterdProcess {
  daemon: StartedProcess | undefined
  readonly socket: string

  /** Set when the daemon config listens on TCP (inside the router namespace): its base URL. */
  url: string | undefined

  private constructor(readonly lab: Lab, readonly dir: string, private readonly env: Record<string, string>) {
    this.socket = join(dir, 'api.sock')
  }

  /** `env` adds to the unit's environment (e.g. ROUTERD_UDP_BATCH=off). */
  static async create(daemonConfig: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<RouterdProcess> {
    const lab = await Lab.create()
    const dir = mkdtempSync(join(tmpdir(), 'routerd-proc-'))
    const r = new RouterdProcess(lab, dir, env)
    const listen = daemonConfig['listen'] as { host?: string; port?: number } | undefined
    if (listen?.port !== undefined) r.url = `${daemonConfig['tls'] === undefined ? 'http' : 'https'}://${listen.host}:${listen.port}`
    try {
      writeFileSync(join(dir, 'token'), TOKEN, { mode: 0o600 })
      writeFileSync(join(dir, 'routerd.json'), JSON.stringify({
        listen: { path: r.socket }, tokenFile: join(dir, 'token'), stateDir: join(dir, 'state'), driftCheckSeconds: 0, logLevel: 'warn',
        ...daemonConfig,
      }))
      await r.start()
    } catch (err) {
      await r.close()
      throw err
    }
    return r
  }

  async start(): Promise<void> {
    this.daemon = this.lab.start(this.lab.ns.rtr, process.execPath, routerdArgs(join(this.dir, 'routerd.json')), { ...routerdEnv(), ...this.env })
    const serving = this.url === undefined
      ? async () => (await httpUnix(this.socket, 'GET', '/healthz')).status === 200
      : async () => (await this.lab.exec(this.lab.ns.rtr, 'curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `${this.url}/healthz`], { okCodes: [0, 7, 35, 52, 56] })).stdout === '200'
    await eventually(serving, 'routerd to serve')
      .catch((err: unknown) => { throw new Error(`${(err as Error).message}; routerd said: ${this.output().slice(-3000)}`) })
  }

  /** SIGKILL, as a crash. */
  async kill(): Promise<void> {
    this.daemon?.kill('SIGKILL')
    await this.daemon?.exited
  }

  api(method: ApiMethod, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    return httpUnix(this.socket, method, path, body)
  }

  /** The live DHCP leases (GET /v1/dhcp/leases). */
  async leases(): Promise<{ network: string; mac: string; ip: string; bound: boolean }[]> {
    return (await this.api('GET', '/v1/dhcp/leases')).body.leases
  }

  /** PUTs a whole config and fails with the answer unless it is 200. */
  async put(config: unknown): Promise<void> {
    const res = await this.api('PUT', '/v1/config', config)
    if (res.status !== 200) throw new Error(`PUT /v1/config answered ${res.status}: ${JSON.stringify(res.body)}`)
  }

  /** The value of a Prometheus series (sum over label sets matching `labels`), 0 when absent. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = String((await this.api('GET', '/metrics')).body)
    let sum = 0
    for (const line of text.split('\n')) {
      if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    return sum
  }

  output(): string {
    return this.daemon?.output() ?? ''
  }

  async close(): Promise<void> {
    await this.lab.destroy()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
