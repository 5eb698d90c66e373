import type { StartedProcess } from '../../src/core/exec.ts'
import { loadavg } from 'node:os'
import { Lab, LAB_ADDR, LAB_MACS, labRouterConfig } from '../../src/lab/lab.ts'
import { cleanupOnSignals, onCleanup } from './cleanup.ts'
import { round } from './stats.ts'
import type { RouterdApi } from './api.ts'

/**
 * The bench network on the lab's second guest segment (router eth4, clients in vm3), its static
 * hosts, the upstream resolver in the internet namespace, and the load tools' output parsers:
 * shared by bench-dhcp-dns and bench-soak.
 */

export const NET = { cidr: '10.8.0.0/19', prefix: 19, router: '10.8.0.1', client: '10.8.0.2', domain: 'bench.internal', mask: '255.255.224.0' } as const
export const UPSTREAM = LAB_ADDR.internetHost
/** Every name under it is answered by the upstream (192.0.2.99, TTL 3,600). */
export const FORWARD_DOMAIN = 'fwd.example.test'

export const hostMac = (i: number): string => `02:5e:10:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`
export const hostIp = (i: number): string => { const n = 16 + i; return `10.8.${n >> 8}.${n & 255}` }
export const hostName = (i: number): string => `h${String(i).padStart(4, '0')}`

export interface BenchNetworkOptions {
  dhcp: boolean
  dns: boolean
  /** Lease time of the bench network (default: infinite, as CloudStack hands them out). */
  leaseSeconds?: number
  /** Per-client DNS rate limit (default: the daemon's own). */
  rateLimitQps?: number
  /** Serve DHCP and DNS on the lab's first guest network too (default: off, so ports 67 and 53 belong to the bench network alone). */
  labServices?: boolean
  /** The bench network's `dhcp.relays`, when the daemon has that field (see perfdhcpRelays()). */
  relays?: unknown
}

/** The lab config plus the bench network on the second guest link, with `n` static hosts. */
export function benchConfig(n: number, o: BenchNetworkOptions): Record<string, unknown> {
  const lab = labRouterConfig() as { interfaces: unknown[]; guestNetworks: Record<string, unknown>[] }
  const dns: Record<string, unknown> = { enabled: o.dns }
  if (o.rateLimitQps !== undefined) dns['rateLimitQps'] = o.rateLimitQps
  return {
    ...lab,
    interfaces: [...lab.interfaces, { id: 'guest2', role: 'guest', mac: LAB_MACS.guest2 }],
    guestNetworks: [...(o.labServices === true ? lab.guestNetworks : lab.guestNetworks.map((g) => ({ ...g, dhcp: { enabled: false }, dns: { enabled: false } }))), {
      id: 'bench', interface: 'guest2', cidr: NET.cidr, routerIp: NET.router, domain: NET.domain, dnsServers: [UPSTREAM],
      dhcp: { enabled: o.dhcp, leaseSeconds: o.leaseSeconds ?? 4294967295, ...(o.relays === undefined ? {} : { relays: o.relays }) }, dns,
    }],
    dhcpHosts: Array.from({ length: n }, (_, i) => ({ id: `h${i}`, network: 'bench', mac: hostMac(i), ip: hostIp(i), hostname: hostName(i) })),
  }
}

/**
 * perfdhcp always acts as a relay agent: its requests carry giaddr = its own address (NET.client)
 * and leave from port 67. A daemon that serves relayed requests only from the relays a network
 * lists (issue 7 item 5: `dhcp.relays`) must list it. This reads the daemon's OpenAPI document:
 * without such a field it returns undefined (today's daemon serves any giaddr in the network);
 * with one it returns the bench client as a relay in the field's shape (a list of addresses, or of
 * objects whose address and port fields it fills in).
 */
export async function perfdhcpRelays(api: RouterdApi): Promise<unknown> {
  const doc = (await api.ok('GET', '/openapi.json')).body as unknown
  const found: any[] = []
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return
    const props = (node as { properties?: Record<string, unknown> }).properties
    if (props !== undefined && 'leaseSeconds' in props && 'relays' in props) found.push(props['relays'])
    for (const v of Object.values(node)) walk(v)
  }
  walk(doc)
  const relays = found[0]
  if (relays === undefined) return undefined
  const items = relays.items ?? {}
  if (items.type === 'string') return [NET.client]
  if (items.type === 'object' && items.properties !== undefined) {
    const one: Record<string, unknown> = {}
    for (const [name, schema] of Object.entries(items.properties as Record<string, any>)) {
      if (schema.type === 'string' && /ip|addr/i.test(name)) one[name] = NET.client
      else if (schema.type === 'integer' && /port/i.test(name)) one[name] = 67
      else if ((items.required ?? []).includes(name)) throw new Error(`bench: dhcp.relays item field ${name} unknown to the bench (bench/lib/guest-load.ts)`)
    }
    return [one]
  }
  throw new Error(`bench: dhcp.relays has a shape unknown to the bench: ${JSON.stringify(relays).slice(0, 300)}`)
}

/** dnsmasq in the internet namespace on 192.0.2.10: authoritative for every name under FORWARD_DOMAIN. */
export function startUpstream(lab: Lab): StartedProcess {
  return lab.start(lab.ns.inet, 'dnsmasq', [
    '-k', '--conf-file=/dev/null', '--user=root', '--group=root', '--pid-file=', '--log-facility=/dev/null', '--no-resolv', '--no-hosts',
    '--bind-interfaces', `--listen-address=${UPSTREAM}`, '--local-ttl=3600', `--address=/${FORWARD_DOMAIN}/192.0.2.99`,
  ])
}

export interface PerfdhcpReport {
  /** 4-way exchanges per second (perfdhcp's "Rate"). */
  rate: number
  /** Completed 4-way exchanges: ACKs received for the REQUESTs of the exchanges. */
  exchanges: number
  /** Per exchange kind (DISCOVER-OFFER, REQUEST-ACK, "REQUEST-ACK (renewal)", ...): sent, received, drops. */
  stages: Record<string, { sent: number; received: number; drops: number }>
  /** Every drop of every stage: requests perfdhcp counted as lost (no answer within its drop time). */
  drops: number
}

/** Parses perfdhcp's report (Kea 2.2's wording). Throws with the tail of the output if there is no rate. */
export function parsePerfdhcp(stdout: string, stderr = ''): PerfdhcpReport {
  const m = /Rate: ([\d.]+) 4-way exchanges\/second/.exec(stdout)
  if (m === null) throw new Error(`perfdhcp printed no rate: ${stdout.slice(-1500)}${stderr.slice(-500)}`)
  const stages: PerfdhcpReport['stages'] = {}
  for (const s of stdout.matchAll(/\*+Statistics for: ([^*\n]+?)\*+\s*\nsent packets: (\d+)\s*\nreceived packets: (\d+)\s*\ndrops: (\d+)/g)) {
    stages[s[1] as string] = { sent: Number(s[2]), received: Number(s[3]), drops: Number(s[4]) }
  }
  const ack = stages['REQUEST-ACK']
  if (ack === undefined) throw new Error(`perfdhcp printed no REQUEST-ACK statistics: ${stdout.slice(-1500)}`)
  return { rate: Number(m[1]), exchanges: ack.received, stages, drops: Object.values(stages).reduce((a, s) => a + s.drops, 0) }
}

export interface DnsperfReport { qps: number; sent: number; completed: number; lost: number }

/** Parses dnsperf's summary. Throws with the tail of the output if there is no rate. */
export function parseDnsperf(stdout: string): DnsperfReport {
  const qps = /Queries per second:\s+([\d.]+)/.exec(stdout)
  if (qps === null) throw new Error(`dnsperf printed no rate: ${stdout.slice(-1500)}`)
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? 0)
  return { qps: Number(qps[1]), sent: num(/Queries sent:\s+(\d+)/), completed: num(/Queries completed:\s+(\d+)/), lost: num(/Queries lost:\s+(\d+)/) }
}

/**
 * The lab both guest-service suites (dhcp-dns, soak) start from: root checked, cleanup on
 * signals, the bench client's address on vm3 and the upstream resolver on the internet side.
 * The load average says how far to trust the numbers on a shared machine.
 */
export async function openGuestLab(suite: string): Promise<{ lab: Lab; loadAverage: { atStart: number[]; atEnd: number[] } }> {
  if (process.getuid?.() !== 0) throw new Error(`${suite} needs root (network namespaces)`)
  cleanupOnSignals()
  const loadAverage = { atStart: loadavg().map((l) => round(l, 2)), atEnd: [] as number[] }
  const lab = await Lab.create('svmbench')
  onCleanup(`lab ${lab.id}`, () => lab.destroy())
  await lab.exec(lab.ns.vm3, 'ip', ['address', 'add', `${NET.client}/${NET.prefix}`, 'dev', 'eth0'])
  startUpstream(lab)
  return { lab, loadAverage }
}
