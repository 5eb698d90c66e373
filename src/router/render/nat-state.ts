import type { NormalizedConfig, NPortForward } from '../model/normalize.ts'

/**
 * Pure. The NAT state key of a UDP forward or load-balancer backend, in the form
 * plan/conntrack.ts clears it by: the VM answering, the public ports, then what else tells two
 * keys apart (a change of any part is a change of the NAT it stands for).
 */
export function udpNatKey(privateIp: string, publicStart: number, publicEnd: number, detail: string): string {
  return `udp ${privateIp} ${publicStart}-${publicEnd} ${detail}`
}

/**
 * Pure. A UDP forward's NAT state as a comparable key (undefined for TCP: established TCP
 * through a removed forward is left to finish, see plan/conntrack.ts).
 */
export function natKeyOf(r: NPortForward): string | undefined {
  return r.protocol === 'udp' ? udpNatKey(r.privateIp, r.publicStart, r.publicEnd, `pf ${r.privateStart} ${r.sourceCidrs.join(',')}`) : undefined
}

/**
 * Pure. The key of public ports a local HAProxy serves (a load balancer in mode http or tls):
 * its connections' entries carry no NAT, and they must not outlive the mode (plan/conntrack.ts).
 */
export function localTcpKey(publicStart: number, publicEnd: number): string {
  return `local tcp ${publicStart}-${publicEnd}`
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
  for (const r of cfg.loadBalancers) {
    if (r.mode !== 'l4') add(r.publicIp, localTcpKey(r.publicStart, r.publicEnd))
    if (r.mode !== 'l4' || r.protocol !== 'udp') continue
    for (const b of r.backends) add(r.publicIp, udpNatKey(b.ip, r.publicStart, r.publicEnd, `lb ${r.id} ${b.port}`))
  }
  for (const s of cfg.staticNats) add(s.publicIp, `static ${s.privateIp}`)
  for (const list of keys.values()) list.sort()
  return new Map([...keys].sort(([a], [b]) => (a < b ? -1 : 1)))
}
