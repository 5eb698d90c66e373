import { editedValues, type DomainCheck } from './domain.ts'
import type { Key } from './index.ts'
import { checkGuestAddress, guestAddressesTouchedBy } from './own-addresses.ts'
import { checkPublicIpRef } from './public-ips.ts'

/**
 * Static NAT: one-to-one between a public IP that is not the source-NAT IP and a guest VM;
 * each public IP and each VM address in one static NAT at most.
 */

export const STATIC_NAT_BY_PUBLIC_IP: Key<'staticNats'> = { collection: 'staticNats', of: (s) => s.publicIp }
const STATIC_NAT_BY_PRIVATE_IP: Key<'staticNats'> = { collection: 'staticNats', of: (s) => s.privateIp }

export const staticNats: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'staticNats', (s, i) => {
      const path = `/staticNats/${i}`
      if (checkPublicIpRef(ix, s.publicIp, `${path}/publicIp`, push) && ix.publicIps.byIp.get(s.publicIp)?.sourceNat === true) {
        push(`${path}/publicIp`, 'ERR_STATIC_NAT_ON_SOURCE_NAT', `${s.publicIp} is a source-NAT IP and cannot be static-NATed`)
      }
      const firstPublic = ix.firstSharing(STATIC_NAT_BY_PUBLIC_IP, i)
      if (firstPublic !== i) push(`${path}/publicIp`, 'ERR_DUPLICATE_STATIC_NAT', `${s.publicIp} is already static-NATed by /staticNats/${firstPublic}`)
      const firstPrivate = ix.firstSharing(STATIC_NAT_BY_PRIVATE_IP, i)
      if (firstPrivate !== i) push(`${path}/privateIp`, 'ERR_DUPLICATE_STATIC_NAT', `${s.privateIp} already has static NAT /staticNats/${firstPrivate}`)
      checkGuestAddress(ix, s.privateIp, `${path}/privateIp`, push)
    })
  },
  affected(ix, edit, picks) {
    const publicIps = [...editedValues(edit, 'publicIps', (p) => p.ip), ...editedValues(edit, 'staticNats', (s) => s.publicIp)]
    const privateIps = editedValues(edit, 'staticNats', (s) => s.privateIp)
    const touched = guestAddressesTouchedBy(edit)
    if (publicIps.length === 0 && privateIps.length === 0 && touched === undefined) return
    picks.all('staticNats', ix.where('staticNats', (s) =>
      publicIps.includes(s.publicIp) || privateIps.includes(s.privateIp) || (touched?.(s.privateIp) ?? false)))
  },
}
