import type { NormalizedConfig, NPortForward } from '../model/normalize.ts'

/**
 * Pure. A UDP forward's NAT state as a comparable key (undefined for TCP: established TCP
 * through a removed forward is left to finish, see plan/conntrack.ts).
 */
export function natKeyOf(r: NPortForward): string | undefined {
  return r.protocol === 'udp' ? `udp ${r.publicStart}-${r.publicEnd} ${r.privateIp}:${r.privateStart} ${r.sourceCidrs.join(',')}` : undefined
}

/** Pure. What NAT state exists, as comparable keys per public IP: IPs in order, each one's keys sorted. */
export function natKeys(cfg: NormalizedConfig): Map<string, string[]> {
  const keys = new Map<string, string[]>()
  const add = (ip: string, key: string) => {
    const list = keys.get(ip)
    if (list === undefined) keys.set(ip, [key])
    else list.push(key)
  }
  for (const r of cfg.portForwards) {
    const key = natKeyOf(r)
    if (key !== undefined) add(r.publicIp, key)
  }
  for (const s of cfg.staticNats) add(s.publicIp, `static ${s.privateIp}`)
  for (const list of keys.values()) list.sort()
  return new Map([...keys].sort(([a], [b]) => (a < b ? -1 : 1)))
}
