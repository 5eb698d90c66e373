import { editedValues, type DomainCheck } from './domain.ts'
import { checkCidrList, checkMatch } from './fields.ts'

/** Egress rules: of a guest network that exists, with a match its protocol can make. */

export const egressRules: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'egressRules', (r, i) => {
      const path = `/egressRules/${i}`
      if (!ix.guestNetworks.ids.has(r.network)) push(`${path}/network`, 'ERR_UNKNOWN_NETWORK', `no guest network has id "${r.network}"`)
      checkMatch(r, path, push)
      checkCidrList(r.sourceCidrs, `${path}/sourceCidrs`, push)
      checkCidrList(r.destinationCidrs, `${path}/destinationCidrs`, push)
    })
  },
  affected(ix, edit, picks) {
    const networks = editedValues(edit, 'guestNetworks', (n) => n.id)
    if (networks.length > 0) picks.all('egressRules', ix.where('egressRules', (r) => networks.includes(r.network)))
  },
}
