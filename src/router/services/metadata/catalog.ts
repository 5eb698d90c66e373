import type { RouterConfig, UserDataRef } from '../../model/config.ts'

/**
 * What each VM may read, compiled once per config: per network, per VM address, its metadata
 * values as served (defaults filled in, lists joined, empty values left out) and its user data
 * reference. Pure. The servers look a request up by the network it came in on and its source
 * address, and nothing else: a VM is never answered with another's data.
 */

export interface VmEntry {
  /** Key (lower case) → the bytes served for it. */
  values: ReadonlyMap<string, string>
  /** The key names, one per line: the answer to /latest/meta-data/. */
  listing: string
  userData: UserDataRef | undefined
}

export interface MetadataNetwork {
  id: string
  routerIp: string
  vms: ReadonlyMap<string, VmEntry>
}

/** Pure. The networks serving metadata, with every VM that has data. */
export function compileCatalog(config: RouterConfig): MetadataNetwork[] {
  const hostnames = new Map(config.dhcpHosts.map((h) => [`${h.network} ${h.ip}`, h.hostname]))
  const staticNat = new Map(config.staticNats.map((s) => [s.privateIp, s.publicIp]))
  const sourceNat = sourceNatIp(config)
  const byNetwork = new Map<string, Map<string, VmEntry>>()
  for (const v of config.vmData) {
    const values = new Map<string, string>()
    const hostname = hostnames.get(`${v.network} ${v.ip}`)
    if (hostname !== undefined) values.set('local-hostname', hostname)
    values.set('local-ipv4', v.ip)
    const publicIp = staticNat.get(v.ip) ?? sourceNat
    if (publicIp !== undefined) values.set('public-ipv4', publicIp)
    for (const [key, value] of Object.entries(v.metadata ?? {})) {
      const text = Array.isArray(value) ? value.filter((line) => line !== '').join('\n') : value
      if (text === '') values.delete(key)
      else values.set(key, text)
    }
    const sorted = new Map([...values].sort(([a], [b]) => (a < b ? -1 : 1)))
    const entry: VmEntry = { values: sorted, listing: [...sorted.keys()].join('\n') + '\n', userData: v.userData }
    let vms = byNetwork.get(v.network)
    if (vms === undefined) byNetwork.set(v.network, vms = new Map())
    vms.set(v.ip, entry)
  }
  return config.guestNetworks
    .filter((n) => n.metadata?.enabled !== false)
    .map((n) => ({ id: n.id, routerIp: n.routerIp, vms: byNetwork.get(n.id) ?? new Map() }))
}

/**
 * The address the network's VMs leave by when they have no static NAT: the source-NAT IP of the
 * default public interface, else the first one by id (CloudStack gives the router's public IP).
 */
function sourceNatIp(config: RouterConfig): string | undefined {
  const candidates = config.publicIps.filter((p) => p.sourceNat === true).sort((a, b) => (a.id < b.id ? -1 : 1))
  return (candidates.find((p) => p.interface === config.defaultInterface) ?? candidates[0])?.ip
}

/** Pure. sha256 → how many vmData items of `config` name that user data. */
export function userDataReferences(config: RouterConfig | undefined): Map<string, number> {
  const out = new Map<string, number>()
  for (const v of config?.vmData ?? []) if (v.userData !== undefined) out.set(v.userData.sha256, (out.get(v.userData.sha256) ?? 0) + 1)
  return out
}
