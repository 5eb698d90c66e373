import { formatNetwork, parseCidr, reservedOverlap } from '../../../core/ipv4.ts'
import { editedValues, type DomainCheck } from './domain.ts'
import { checkNetworkCidr } from './fields.ts'
import type { Key } from './index.ts'

/**
 * Internal sites (hostnet): networks in CIDR form, ordinary unicast space, each listed once,
 * and a management interface to reach them through.
 */

const SITE_BY_NETWORK: Key<'internalSites'> = {
  collection: 'internalSites',
  of: (s) => {
    const cidr = parseCidr(s.cidr)
    return cidr === undefined ? undefined : formatNetwork(cidr)
  },
}

export const internalSites: DomainCheck = {
  check(ix, push, only) {
    let management: boolean | undefined
    only.each(ix.config, 'internalSites', (s, i) => {
      management ??= ix.where('interfaces', (iface) => iface.role === 'management').length > 0
      const path = `/internalSites/${i}`
      const cidr = checkNetworkCidr(s.cidr, `${path}/cidr`, push)
      if (cidr !== undefined) {
        const reserved = reservedOverlap(cidr)
        const first = ix.firstSharing(SITE_BY_NETWORK, i)
        if (reserved !== undefined) push(`${path}/cidr`, 'ERR_ADDRESS_RESERVED', `${s.cidr} overlaps ${reserved}`)
        else if (first !== undefined && first !== i) push(`${path}/cidr`, 'ERR_DUPLICATE_SITE', `${s.cidr} is already listed by /internalSites/${first}`)
      }
      if (!management) push(path, 'ERR_NO_MANAGEMENT_INTERFACE', 'an internal site is reached through a management interface, and there is none')
    })
  },
  affected(ix, edit, picks) {
    if (edit.collection === 'interfaces') {
      picks.all('internalSites', ix.where('internalSites', () => true))
      return
    }
    const keys = editedValues(edit, 'internalSites', (s) => SITE_BY_NETWORK.of(s, 0, ix))
    if (keys.length > 0) picks.all('internalSites', ix.where('internalSites', (s, i) => keys.includes(SITE_BY_NETWORK.of(s, i, ix) ?? '')))
  },
}
