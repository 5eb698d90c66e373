import { editedValues, type DomainCheck } from './domain.ts'
import { checkCidrList, checkPorts } from './fields.ts'
import { checkGuestAddress, guestAddressesTouchedBy } from './own-addresses.ts'
import { checkPublicIpRef } from './public-ips.ts'
import { STATIC_NAT_BY_PUBLIC_IP } from './static-nats.ts'

/**
 * Port forwards, each on its own: a public IP of the router that is not static-NATed, port
 * ranges of one length, a guest VM target. Overlaps between forwards: port-forward-overlap.ts.
 */

export const portForwards: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'portForwards', (r, i) => {
      const path = `/portForwards/${i}`
      checkPublicIpRef(ix, r.publicIp, `${path}/publicIp`, push)
      const pub = checkPorts(r.publicPorts, `${path}/publicPorts`, push)
      const priv = checkPorts(r.privatePorts, `${path}/privatePorts`, push)
      if (pub.end - pub.start !== priv.end - priv.start) {
        push(`${path}/privatePorts`, 'ERR_PORT_RANGE_LENGTH', `private range has ${priv.end - priv.start + 1} ports, public has ${pub.end - pub.start + 1}`)
      }
      const staticNat = ix.first(STATIC_NAT_BY_PUBLIC_IP, r.publicIp)
      if (staticNat !== undefined) {
        push(`${path}/publicIp`, 'ERR_PORT_FORWARD_ON_STATIC_NAT', `${r.publicIp} is static-NATed by /staticNats/${staticNat}`)
      }
      checkGuestAddress(ix, r.privateIp, `${path}/privateIp`, push)
      checkCidrList(r.sourceCidrs, `${path}/sourceCidrs`, push)
    })
  },
  affected(ix, edit, picks) {
    const publicIps = [...editedValues(edit, 'publicIps', (p) => p.ip), ...editedValues(edit, 'staticNats', (s) => s.publicIp)]
    const touched = guestAddressesTouchedBy(edit)
    if (publicIps.length === 0 && touched === undefined) return
    picks.all('portForwards', ix.where('portForwards', (r) => publicIps.includes(r.publicIp) || (touched?.(r.privateIp) ?? false)))
  },
}
