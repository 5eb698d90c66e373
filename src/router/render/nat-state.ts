import type { NormalizedConfig } from '../model/normalize.ts'

/** Pure. What NAT state exists, as comparable keys per public IP. */
export function natKeys(cfg: NormalizedConfig): Map<string, string[]> {
  const keys = new Map<string, string[]>()
  const add = (ip: string, key: string) => {
    const list = keys.get(ip)
    if (list === undefined) keys.set(ip, [key])
    else list.push(key)
  }
  for (const r of cfg.portForwards) {
    if (r.protocol === 'udp') add(r.publicIp, `udp ${r.publicStart}-${r.publicEnd} ${r.privateIp}:${r.privateStart} ${r.sourceCidrs.join(',')}`)
  }
  for (const s of cfg.staticNats) add(s.publicIp, `static ${s.privateIp}`)
  for (const list of keys.values()) list.sort()
  return keys
}
