import { cidrContains, formatIpv4, parseCidr, parseIpv4 } from '../../../core/ipv4.ts'
import { editedValues, type DomainCheck, type Edit } from './domain.ts'
import type { Push } from './diagnostics.ts'
import { editedNetworks } from './guest-networks.ts'
import type { ConfigIndex } from './index.ts'
import type { Picks } from './selection.ts'

/**
 * The addresses the router holds itself (router IPs, interface addresses, public IPs): each
 * once, and a public IP never inside a guest network. Guest VM addresses (static NAT and port
 * forward targets) must be inside a guest network and none of these.
 */

export const ownAddresses: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'interfaces', (iface, i) => iface.addresses?.forEach((a, j) => {
      const owner = ix.ownAddresses.takenInterfaceAddresses.get(`${i}/${j}`)
      if (owner !== undefined) push(`/interfaces/${i}/addresses/${j}`, 'ERR_ADDRESS_IN_USE', `${a} is already ${owner}`)
    }))
    only.each(ix.config, 'publicIps', (p, i) => {
      const conflict = ix.ownAddresses.publicIpConflicts.get(i)
      if (conflict === undefined) return
      if ('owner' in conflict) push(`/publicIps/${i}/ip`, 'ERR_ADDRESS_IN_USE', `${p.ip} is already ${conflict.owner}`)
      else push(`/publicIps/${i}/ip`, 'ERR_NETWORK_OVERLAP', `${p.ip} is inside guest network /guestNetworks/${conflict.guestNetwork}`)
    })
  },
  affected(ix, edit, picks) {
    if (edit.collection === 'interfaces') {
      // Interface addresses are claimed in document order: every interface may be placed differently.
      picks.all('interfaces', ix.where('interfaces', () => true))
      pickPublicIpsAt(ix, editedInterfaceAddresses(edit), picks)
    }
    if (edit.collection === 'guestNetworks') {
      const { cidrs, routers } = editedNetworks(edit)
      picks.all('interfaces', ix.where('interfaces', (iface) => iface.addresses?.some((a) => {
        const cidr = parseCidr(a)
        return cidr !== undefined && routers.includes(cidr.address)
      }) ?? false))
      const publicIps: number[] = []
      for (const { index, cidr } of ix.publicIps.byIp.values()) {
        if (routers.includes(cidr.address) || cidrs.some((c) => cidrContains(c, cidr.address))) publicIps.push(index)
      }
      picks.all('publicIps', publicIps)
    }
    const ips = editedValues(edit, 'publicIps', (p) => p.ip)
    if (ips.length > 0) picks.all('publicIps', ix.where('publicIps', (p) => ips.includes(p.ip)))
  },
}

function pickPublicIpsAt(ix: ConfigIndex, addresses: readonly number[], picks: Picks): void {
  for (const address of addresses) {
    const entry = ix.publicIps.byIp.get(formatIpv4(address))
    if (entry !== undefined) picks.item('publicIps', entry.index)
  }
}

/** The addresses (without prefix) of the versions of an edited interface. */
export function editedInterfaceAddresses(edit: Edit): number[] {
  const out: number[] = []
  for (const list of editedValues(edit, 'interfaces', (i) => i.addresses)) {
    for (const a of list) {
      const address = parseCidr(a)?.address
      if (address !== undefined && !out.includes(address)) out.push(address)
    }
  }
  return out
}

/**
 * A test for the guest VM addresses whose check (checkGuestAddress) an edit can change: those
 * inside or at the router IP of an edited guest network, or at an edited interface address.
 * Undefined when the edit cannot change any.
 */
export function guestAddressesTouchedBy(edit: Edit): ((ip: string) => boolean) | undefined {
  if (edit.collection === 'guestNetworks') {
    const { cidrs, routers } = editedNetworks(edit)
    if (cidrs.length === 0 && routers.length === 0) return undefined
    return (ip) => {
      const address = parseIpv4(ip)
      return address !== undefined && (routers.includes(address) || cidrs.some((c) => cidrContains(c, address)))
    }
  }
  if (edit.collection === 'interfaces') {
    const addresses = editedInterfaceAddresses(edit)
    if (addresses.length === 0) return undefined
    return (ip) => {
      const address = parseIpv4(ip)
      return address !== undefined && addresses.includes(address)
    }
  }
  return undefined
}

/** Reports a guest VM address outside every guest network or held by the router itself. */
export function checkGuestAddress(ix: ConfigIndex, ip: string, path: string, push: Push): void {
  const address = parseIpv4(ip)
  if (address === undefined) return
  if (ix.networkContaining(address) === undefined) {
    push(path, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${ip} is in no guest network`)
  } else if (ix.ownAddresses.owners.has(address)) {
    push(path, 'ERR_ADDRESS_IN_USE', `${ip} is ${ix.ownAddresses.owners.get(address)}, not a guest VM`)
  }
}
