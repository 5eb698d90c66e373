import { editedValues, type DomainCheck } from './domain.ts'
import { checkCidrList, checkMatch } from './fields.ts'
import { checkPublicIpRef } from './public-ips.ts'

/** Ingress firewall rules: on a public IP of the router, with a match its protocol can make. */

export const firewallRules: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'firewallRules', (r, i) => {
      const path = `/firewallRules/${i}`
      checkPublicIpRef(ix, r.publicIp, `${path}/publicIp`, push)
      checkMatch(r, path, push)
      checkCidrList(r.sourceCidrs, `${path}/sourceCidrs`, push)
    })
  },
  affected(ix, edit, picks) {
    const ips = editedValues(edit, 'publicIps', (p) => p.ip)
    if (ips.length > 0) picks.all('firewallRules', ix.where('firewallRules', (r) => ips.includes(r.publicIp)))
  },
}
