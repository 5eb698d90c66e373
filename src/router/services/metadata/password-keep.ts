import type { RouterConfig } from '../../model/config.ts'

/**
 * Pure. Which pending passwords still belong to a VM once `next` replaces `previous` (undefined at
 * start). A password is for the VM that holds its address, so it goes when:
 *   - its network is gone or no longer serves metadata (nothing would ever fetch it);
 *   - the DHCP host that held its address in `previous` is gone from `next`, or `next` gives the
 *     address to another MAC: a new VM on a reused address must never be handed the old one's.
 * An address with no DHCP host in `previous` keeps its password: the orchestrator may set a
 * password before the VM's DHCP entry arrives.
 */
export function passwordKeeper(previous: RouterConfig | undefined, next: RouterConfig): (network: string, ip: string) => boolean {
  const serving = new Set(next.guestNetworks.filter((n) => n.metadata?.enabled !== false).map((n) => n.id))
  const before = hostMacs(previous)
  const after = hostMacs(next)
  return (network, ip) => {
    if (!serving.has(network)) return false
    const k = `${network} ${ip}`
    const was = before.get(k)
    return was === undefined || after.get(k) === was
  }
}

/** "<network> <ip>" → MAC (lower case) of every DHCP host. */
function hostMacs(config: RouterConfig | undefined): Map<string, string> {
  return new Map((config?.dhcpHosts ?? []).map((h) => [`${h.network} ${h.ip}`, h.mac.toLowerCase()]))
}
