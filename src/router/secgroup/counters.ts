import type { Runner } from '../../core/exec.ts'
import { ownedChain, ownedSet } from '../render/names.ts'

/**
 * Drops per port and reason, readable without dumping every rule of the host on every scrape.
 * Every iptables and ip6tables drop of a port counts into a named kernel counter of its own
 * (nfacct: `-m nfacct --nfacct-name svm-sgd-…`, one per port and reason, shared by both
 * families), so a scrape is one `nfacct list` of the counters alone. ebtables cannot count into
 * them: the two bridge drops (ARP for an address not the port's, a frame from another MAC) are
 * read from `ebtables-save -c` of the bridge table, at most once per EBTABLES_EVERY_MS.
 */

/** The reasons an iptables or ip6tables rule of a port drops a packet. */
export const DROP_REASONS = ['spoof', 'ingress', 'egress', 'invalid', 'dhcp-server', 'router-advert', 'redirect'] as const
export type DropReason = typeof DROP_REASONS[number] | 'arp-spoof' | 'mac-spoof'

export const SG_COUNTER_PREFIX = 'svm-sgd-'

export interface SgCounter {
  /** The nfacct object's name (at most 31 characters, the kernel's limit). */
  name: string
  port: string
  reason: DropReason
}

/** Pure. The counter of a port's drops for one reason. */
export function dropCounter(port: string, reason: DropReason): string {
  return ownedSet('sgd', `${port}|${reason}`)
}

/** Pure. The `nfacct restore` line creating a counter at zero. */
export function nfacctCreateLine(name: string): string {
  return `{ pkts = 00000000000000000000, bytes = 00000000000000000000 } = ${name};`
}

/** Pure. Packets per counter in `nfacct list` text. */
export function parseNfacctList(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const m of text.matchAll(/^\{ pkts = (\d+), bytes = \d+ \} = (\S+);$/gm)) out.set(m[2] as string, Number(m[1]))
  return out
}

/** Pure. Packets of each port's two ebtables drops in `ebtables-save -c` text; `ports` are the port ids rendered. */
export function parseBridgeDrops(saved: string, ports: readonly string[]): Map<string, { 'arp-spoof': number; 'mac-spoof': number }> {
  const byChain = new Map(ports.map((id) => [ownedChain('SGM', id), id]))
  const out = new Map<string, { 'arp-spoof': number; 'mac-spoof': number }>()
  for (const m of saved.matchAll(/^\[(\d+):\d+\] -A (\S+) (-p ARP )?-j DROP$/gm)) {
    const port = byChain.get(m[2] as string)
    if (port === undefined) continue
    const counts = out.get(port) ?? { 'arp-spoof': 0, 'mac-spoof': 0 }
    counts[m[3] === undefined ? 'mac-spoof' : 'arp-spoof'] += Number(m[1])
    out.set(port, counts)
  }
  return out
}

const EBTABLES_EVERY_MS = 30_000

export interface SgDrops {
  /** port → reason → packets. */
  byPort: Map<string, Map<DropReason, number>>
}

/**
 * Reads the drop counters of the rendered `counters` (nfacct, every call) and of `ports`' bridge
 * chains (ebtables, at most every 30 s: between two reads the last one is reused).
 */
export class SgDropReader {
  private bridge: { at: number; drops: Map<string, { 'arp-spoof': number; 'mac-spoof': number }> } | undefined

  constructor(private readonly runner: Runner, private readonly now: () => number = Date.now) {}

  async read(counters: readonly SgCounter[], ports: readonly string[]): Promise<SgDrops> {
    const nfacct = parseNfacctList((await this.runner.run('nfacct', ['list'], { timeoutMs: 10_000 })).stdout)
    if (this.bridge === undefined || this.now() - this.bridge.at >= EBTABLES_EVERY_MS) {
      const saved = (await this.runner.run('ebtables-save', ['-c'], { timeoutMs: 10_000 })).stdout
      this.bridge = { at: this.now(), drops: parseBridgeDrops(saved, ports) }
    }
    const byPort = new Map<string, Map<DropReason, number>>()
    const at = (port: string) => {
      let m = byPort.get(port)
      if (m === undefined) byPort.set(port, (m = new Map()))
      return m
    }
    for (const c of counters) at(c.port).set(c.reason, nfacct.get(c.name) ?? 0)
    for (const [port, d] of this.bridge.drops) {
      at(port).set('arp-spoof', d['arp-spoof'])
      at(port).set('mac-spoof', d['mac-spoof'])
    }
    return { byPort }
  }
}
