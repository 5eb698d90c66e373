import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { StartedProcess } from '../../src/core/exec.ts'
import type { Lab } from '../../src/lab/lab.ts'
import { waitTcpListen } from '../lib/listen.ts'
import { sleep } from '../lib/stats.ts'

/**
 * bench-lb's peer: HAProxy (Debian's 2.6) run as CloudStack's virtual router runs it for a load
 * balancer rule, in the router namespace on the rule's public IP and port.
 *
 * The config follows the VR's (HAProxyConfigurator / haproxy.cfg of the systemvm): `global`
 * maxconn 4096 and maxpipes 1024; `defaults` mode tcp, dontlognull, retries 3, redispatch,
 * timeouts connect 5 s, client and server 50 s; one `listen` per rule with `balance` and a
 * `server` line per backend (`weight`). Mode http adds what the VR adds for it
 * (`option forwardfor`, `option http-server-close`). Left out as they do not change the work per
 * request: logging (the VR logs at warning to a syslog port: nothing per connection), chroot,
 * user and group, the stats listener. HAProxy's own defaults otherwise (nbthread = the cores).
 *
 * A change is made the CloudStack way: the whole file is rewritten, checked with `haproxy -c`,
 * and a new HAProxy process is started with `-sf <old pid>` (the old one is asked to finish
 * after the new one has bound). There is no `expose-fd listeners` and no master: the old
 * process closes its listening socket, and connections still in its accept queue are reset.
 * The processes run in the foreground under the suite (`lab.start`): daemon mode would change
 * nothing in the reload but the bookkeeping of pids.
 */

export type HaproxyPeerMode = 'tcp' | 'http'

export interface HaproxyPeerRule {
  mode: HaproxyPeerMode
  /** Bind address and port (the rule's public IP and port). */
  listen: string
  port: number
  backends: readonly { name: string; ip: string; port: number; weight: number }[]
}

/** Pure. The VR-style haproxy.cfg for one rule. */
export function renderCloudStackHaproxy(rule: HaproxyPeerRule): string {
  const name = `${rule.listen.replace(/\./g, '_')}-${rule.port}`
  const out = [
    '# bench-lb: a load balancer rule as CloudStack\'s virtual router configures HAProxy',
    'global',
    '    maxconn 4096',
    '    maxpipes 1024',
    '',
    'defaults',
    '    mode tcp',
    '    option dontlognull',
    '    retries 3',
    '    option redispatch',
    '    timeout connect 5000',
    '    timeout client 50000',
    '    timeout server 50000',
    '',
    `listen ${name}`,
    `    bind ${rule.listen}:${rule.port}`,
    `    mode ${rule.mode}`,
    ...(rule.mode === 'http' ? ['    option forwardfor', '    option http-server-close'] : []),
    '    balance roundrobin',
    ...rule.backends.map((b, i) => `    server ${name}_${i}_${b.name} ${b.ip}:${b.port} weight ${b.weight}`),
    '',
  ]
  return out.join('\n')
}

/** What one reload took: the check, and until the old process was gone (the new one had bound). */
export interface ReloadTiming { checkMs: number; reloadMs: number; totalMs: number; oldExited: boolean }

/** One HAProxy peer in namespace `ns`, config in `dir`; stop() ends every process it started. */
export class HaproxyPeer {
  private current: StartedProcess | undefined
  private readonly all: StartedProcess[] = []
  private readonly config: string

  constructor(private readonly lab: Lab, private readonly ns: string, dir: string, private readonly address: string) {
    this.config = join(dir, 'haproxy-peer.cfg')
  }

  /** Writes the config, starts HAProxy and waits until it listens. */
  async start(rule: HaproxyPeerRule): Promise<void> {
    if (this.current !== undefined) throw new Error('HaproxyPeer.start: already running')
    this.write(rule)
    await this.check()
    const p = this.lab.start(this.ns, 'haproxy', ['-f', this.config])
    this.all.push(p)
    this.current = p
    await waitTcpListen(this.lab, this.ns, [this.address], true, p)
  }

  /**
   * The CloudStack way: rewrite, `haproxy -c`, a new process with `-sf <old pid>`; resolves when
   * the old process has exited (after the new one bound its port and told it to finish) or after
   * 3 s (then oldExited is false).
   */
  async reload(rule: HaproxyPeerRule): Promise<ReloadTiming> {
    const old = this.current
    if (old === undefined) throw new Error('HaproxyPeer.reload: not running')
    const t0 = performance.now()
    this.write(rule)
    await this.check()
    const t1 = performance.now()
    const p = this.lab.start(this.ns, 'haproxy', ['-f', this.config, '-sf', String(old.pid)])
    this.all.push(p)
    this.current = p
    let oldExited = false
    void old.exited.then(() => { oldExited = true })
    for (let i = 0; i < 300 && !oldExited; i++) {
      if (await Promise.race([p.exited.then(() => true), sleep(10).then(() => false)])) throw new Error(`haproxy (reload) exited: ${p.output().slice(-1500)}`)
    }
    const t2 = performance.now()
    return { checkMs: t1 - t0, reloadMs: t2 - t1, totalMs: t2 - t0, oldExited }
  }

  /** Stops every HAProxy process this peer started and waits until the port is free. */
  async stop(): Promise<void> {
    if (this.all.length === 0) return
    for (const p of this.all) p.kill('SIGTERM')
    await Promise.all(this.all.map((p) => p.exited))
    this.all.length = 0
    this.current = undefined
    await waitTcpListen(this.lab, this.ns, [this.address], false)
  }

  private write(rule: HaproxyPeerRule): void {
    writeFileSync(`${this.config}.new`, renderCloudStackHaproxy(rule))
    renameSync(`${this.config}.new`, this.config)
  }

  private async check(): Promise<void> {
    const r = await this.lab.exec(this.ns, 'haproxy', ['-c', '-q', '-f', this.config], { okCodes: [0, 1, 2] })
    if (r.exitCode !== 0) throw new Error(`haproxy -c refuses the peer's config: ${r.stdout}${r.stderr}`)
  }
}
