import { randomBytes } from 'node:crypto'
import { binary, run, startProcess, type RunResult, type StartedProcess } from '../core/exec.ts'

/**
 * The namespace lab used by the tests and by `make demo`:
 *
 *   <id>-inet ("the internet", host 192.0.2.10 on lo)        <id>-sw (bridge br0)
 *      pub0 203.0.113.1/24 ── eth2 ┐                        ┌── p-rtr ── eth1 (guest) of the router
 *      pub1 198.51.100.1/24 ── eth3 ┤  <id>-rtr (routerd)   │    p-vm1 ── eth0 of <id>-vm1  10.1.1.10
 *                                   ├── eth0 (control) ─ ctl-peer      p-vm2 ── eth0 of <id>-vm2  10.1.1.11
 *                                   └── eth4 (guest 2) ── p-rtr2 ┐ (bridge br1 in <id>-sw)
 *                                                                └ p-vm3 ── eth0 of <id>-vm3 (no address: a DHCP client)
 *
 * Names carry a random id so labs of parallel test files never meet. `destroy()` kills every
 * process in the namespaces and deletes them; it is safe to call more than once.
 */

export const LAB_MACS = {
  control: '02:5e:00:00:00:01',
  guest: '02:5e:00:00:00:02',
  public0: '02:5e:00:00:00:03',
  public1: '02:5e:00:00:00:04',
  guest2: '02:5e:00:00:00:05',
  vm1: '02:5e:00:00:01:01',
  vm2: '02:5e:00:00:01:02',
  vm3: '02:5e:00:00:01:03',
} as const

export const LAB_ADDR = {
  internetHost: '192.0.2.10',
  public0Gateway: '203.0.113.1',
  public1Gateway: '198.51.100.1',
  vm1: '10.1.1.10',
  vm2: '10.1.1.11',
  router: '10.1.1.1',
} as const

/** What each namespace of a lab is; its name is `<lab id>-<role>`. */
export const LAB_ROLES = ['rtr', 'inet', 'sw', 'vm1', 'vm2', 'vm3'] as const
export type LabNamespaces = Record<(typeof LAB_ROLES)[number], string>

/** Pure. The namespace names of the lab with this id. */
export function labNamespaces(id: string): LabNamespaces {
  return Object.fromEntries(LAB_ROLES.map((role) => [role, `${id}-${role}`])) as LabNamespaces
}

/** Kills every process in the namespaces, then deletes them; missing ones are skipped. */
export async function deleteNamespaces(namespaces: readonly string[]): Promise<void> {
  for (const ns of namespaces) {
    const pids = await run(binary('ip'), ['netns', 'pids', ns], { okCodes: [0, 1, 255] }).catch(() => ({ stdout: '' }))
    for (const pid of pids.stdout.split('\n').filter((p) => /^\d+$/.test(p))) {
      try { process.kill(Number(pid), 'SIGKILL') } catch { /* already gone */ }
    }
  }
  for (const ns of namespaces) await run(binary('ip'), ['netns', 'del', ns], { okCodes: [0, 1, 255] }).catch(() => undefined)
}

export class Lab {
  readonly ns: LabNamespaces
  private readonly processes: StartedProcess[] = []
  /** Namespaces of VMs added after the build (addVm). */
  private readonly added: string[] = []
  private destroyed = false

  private constructor(readonly id: string) {
    this.ns = labNamespaces(id)
  }

  /** Creates the namespaces and wiring. On failure everything made so far is removed. */
  static async create(prefix = 'svm'): Promise<Lab> {
    const lab = new Lab(`${prefix}${randomBytes(3).toString('hex')}`)
    try {
      await lab.build()
    } catch (err) {
      await lab.destroy()
      throw err
    }
    return lab
  }

  private async ip(ns: string, ...args: string[]): Promise<void> {
    await run(binary('ip'), ['-n', ns, ...args])
  }

  private async build(): Promise<void> {
    const { rtr, inet, sw, vm1, vm2, vm3 } = this.ns
    for (const ns of Object.values(this.ns)) {
      await run(binary('ip'), ['netns', 'add', ns])
      await this.ip(ns, 'link', 'set', 'lo', 'up')
    }
    // Router links, created in place with fixed MACs (the config matches on them).
    await this.ip(rtr, 'link', 'add', 'eth0', 'address', LAB_MACS.control, 'type', 'veth', 'peer', 'name', 'ctl-peer')
    await this.ip(rtr, 'link', 'add', 'eth1', 'address', LAB_MACS.guest, 'type', 'veth', 'peer', 'name', 'p-rtr', 'netns', sw)
    await this.ip(rtr, 'link', 'add', 'eth2', 'address', LAB_MACS.public0, 'type', 'veth', 'peer', 'name', 'pub0', 'netns', inet)
    await this.ip(rtr, 'link', 'add', 'eth3', 'address', LAB_MACS.public1, 'type', 'veth', 'peer', 'name', 'pub1', 'netns', inet)
    await this.ip(rtr, 'link', 'add', 'eth4', 'address', LAB_MACS.guest2, 'type', 'veth', 'peer', 'name', 'p-rtr2', 'netns', sw)
    await this.ip(rtr, 'link', 'set', 'ctl-peer', 'up')
    // The switch: one bridge per guest segment.
    for (const [bridge, port] of [['br0', 'p-rtr'], ['br1', 'p-rtr2']] as const) {
      await this.ip(sw, 'link', 'add', bridge, 'type', 'bridge')
      await this.ip(sw, 'link', 'set', bridge, 'up')
      await this.ip(sw, 'link', 'set', port, 'master', bridge, 'up')
    }
    const vms = [[vm1, LAB_MACS.vm1, LAB_ADDR.vm1, 'p-vm1', 'br0'], [vm2, LAB_MACS.vm2, LAB_ADDR.vm2, 'p-vm2', 'br0'], [vm3, LAB_MACS.vm3, undefined, 'p-vm3', 'br1']] as const
    for (const [vm, mac, addr, port, bridge] of vms) {
      await this.ip(vm, 'link', 'add', 'eth0', 'address', mac, 'type', 'veth', 'peer', 'name', port, 'netns', sw)
      await this.ip(sw, 'link', 'set', port, 'master', bridge, 'up')
      await this.ip(vm, 'link', 'set', 'eth0', 'up')
      if (addr === undefined) continue
      await this.ip(vm, 'address', 'add', `${addr}/24`, 'dev', 'eth0')
      await this.ip(vm, 'route', 'add', 'default', 'via', LAB_ADDR.router)
    }
    // The internet: two upstream segments and a host address. Strict rp_filter makes a reply that
    // leaves the router by the wrong interface visible: it is dropped here.
    await this.ip(inet, 'address', 'add', `${LAB_ADDR.internetHost}/32`, 'dev', 'lo')
    await this.ip(inet, 'address', 'add', `${LAB_ADDR.public0Gateway}/24`, 'dev', 'pub0')
    await this.ip(inet, 'address', 'add', `${LAB_ADDR.public1Gateway}/24`, 'dev', 'pub1')
    await this.ip(inet, 'link', 'set', 'pub0', 'up')
    await this.ip(inet, 'link', 'set', 'pub1', 'up')
    await run(binary('sysctl'), ['-q', '-w', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.pub0.rp_filter=1', 'net.ipv4.conf.pub1.rp_filter=1'], { netns: inet })
    // The bridge itself must not filter guest traffic.
    await run(binary('sysctl'), ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=0'], { netns: sw }).catch(() => undefined)
  }

  /**
   * Adds a guest VM on the first guest segment (br0, the router's eth1): a namespace
   * `<lab id>-<name>` with `ip`/24 and a default route via the router. Its MAC is derived
   * from the address (02:5e:00:00:<3rd octet>:<4th octet>). Deleted by destroy().
   */
  async addVm(name: string, ip: string): Promise<string> {
    if (!/^[a-z0-9]{1,8}$/.test(name)) throw new Error(`addVm: "${name}" must be 1-8 lower-case letters or digits`)
    const ns = `${this.id}-${name}`
    const port = `p-${name}`
    const [, , c = '0', d = '0'] = ip.split('.')
    const mac = `02:5e:00:00:${Number(c).toString(16).padStart(2, '0')}:${Number(d).toString(16).padStart(2, '0')}`
    await run(binary('ip'), ['netns', 'add', ns])
    this.added.push(ns)
    await this.ip(ns, 'link', 'set', 'lo', 'up')
    await this.ip(ns, 'link', 'add', 'eth0', 'address', mac, 'type', 'veth', 'peer', 'name', port, 'netns', this.ns.sw)
    await this.ip(this.ns.sw, 'link', 'set', port, 'master', 'br0', 'up')
    await this.ip(ns, 'link', 'set', 'eth0', 'up')
    await this.ip(ns, 'address', 'add', `${ip}/24`, 'dev', 'eth0')
    await this.ip(ns, 'route', 'add', 'default', 'via', LAB_ADDR.router)
    return ns
  }

  /** Runs a command inside one of the lab's namespaces. */
  exec(ns: string, file: string, args: readonly string[], opts: { stdin?: string; timeoutMs?: number; okCodes?: number[] } = {}): Promise<RunResult> {
    return run(file.startsWith('/') ? file : binary(file), args, { ...opts, netns: ns })
  }

  /** Starts a long-running process in a namespace; it is killed by destroy(). */
  start(ns: string, file: string, args: readonly string[], env?: NodeJS.ProcessEnv): StartedProcess {
    const p = startProcess(file.startsWith('/') ? file : binary(file), args, env === undefined ? { netns: ns } : { netns: ns, env })
    this.processes.push(p)
    return p
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    for (const p of this.processes) p.kill('SIGKILL')
    await deleteNamespaces([...this.added, ...Object.values(this.ns)])
    await Promise.all(this.processes.map((p) => p.exited))
  }
}

/** The lab's router config: two public interfaces, one guest network with two VMs. */
export function labRouterConfig(): Record<string, unknown> {
  return {
    interfaces: [
      { id: 'ctl', role: 'control', mac: LAB_MACS.control, addresses: ['169.254.10.2/16'] },
      { id: 'guest1', role: 'guest', mac: LAB_MACS.guest },
      { id: 'pub0', role: 'public', mac: LAB_MACS.public0, gateway: LAB_ADDR.public0Gateway },
      { id: 'pub1', role: 'public', mac: LAB_MACS.public1, gateway: LAB_ADDR.public1Gateway },
    ],
    publicIps: [
      { id: 'ip-snat', ip: '203.0.113.10', prefixLength: 24, interface: 'pub0', sourceNat: true },
      { id: 'ip-static', ip: '203.0.113.11', prefixLength: 24, interface: 'pub0' },
      { id: 'ip-pf', ip: '203.0.113.12', prefixLength: 24, interface: 'pub0' },
      { id: 'ip-pub1', ip: '198.51.100.10', prefixLength: 24, interface: 'pub1', sourceNat: true },
    ],
    guestNetworks: [{ id: 'net1', interface: 'guest1', cidr: '10.1.1.0/24', routerIp: LAB_ADDR.router, domain: 'cloud.internal' }],
    staticNats: [],
    portForwards: [],
    firewallRules: [],
    egressRules: [],
    staticRoutes: [], dhcpHosts: [],
    defaultInterface: 'pub0',
  }
}
