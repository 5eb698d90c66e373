import type { StartedProcess } from '../../src/core/exec.ts'
import type { ApiMethod } from '../../src/core/http/client.ts'
import { Daemon } from '../../src/lab/daemon.ts'
import { Lab } from '../../src/lab/lab.ts'
import { httpUnix, TOKEN } from './router-harness.ts'

/**
 * routerd as the appliance runs it (src/lab/daemon.ts: the unit's flags, environment and bundle)
 * inside a fresh lab's router namespace, reached over a unix socket: what the in-process
 * services (DHCP, DNS) need, since their sockets live in the daemon's own namespace.
 */
export class RouterdProcess {
  private constructor(readonly lab: Lab, readonly routerd: Daemon) {}

  /** `env` adds to the unit's environment (e.g. ROUTERD_UDP_BATCH=off). */
  static async create(daemonConfig: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<RouterdProcess> {
    const lab = await Lab.create()
    try {
      const routerd = await Daemon.launch({
        name: 'routerd', netns: lab.ns.rtr, token: TOKEN, env,
        config: { driftCheckSeconds: 0, logLevel: 'warn', ...daemonConfig },
      })
      return new RouterdProcess(lab, routerd)
    } catch (err) {
      await lab.destroy()
      throw err
    }
  }

  /** The daemon's process (a new one after start()). */
  get daemon(): StartedProcess {
    return this.routerd.process
  }

  /** Its directory: routerd.json, token, api.sock, state/. */
  get dir(): string {
    return this.routerd.dir
  }

  get socket(): string {
    return this.routerd.socket
  }

  /** Starts routerd again (same state directory) and waits for /healthz. */
  start(): Promise<void> {
    return this.routerd.start()
  }

  /** SIGKILL, as a crash. */
  kill(): Promise<void> {
    return this.routerd.kill()
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
    return this.routerd.output()
  }

  async close(): Promise<void> {
    await this.routerd.close()
    await this.lab.destroy()
  }
}
