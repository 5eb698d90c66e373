import type { LoadBalancer } from '../config.ts'
import { normalizePorts } from '../normalize.ts'
import type { Push } from './diagnostics.ts'
import { editedValues, type DomainCheck } from './domain.ts'
import { checkCidrList, checkPorts } from './fields.ts'
import type { ConfigIndex } from './index.ts'
import { checkGuestAddress, guestAddressesTouchedBy } from './own-addresses.ts'
import { checkPublicIpRef } from './public-ips.ts'
import { STATIC_NAT_BY_PUBLIC_IP } from './static-nats.ts'

/**
 * Load balancers: a public IP of the router that is not static-NATed (the source-NAT IP is
 * allowed, as in CloudStack), port ranges of one length, backends that are guest VMs, and fields
 * that make sense for the rule's mode. Load balancers share a public IP's port space with port
 * forwards: an overlap with a forward or another load balancer is reported at the load balancer
 * (against both load balancers when two overlap), so the forwards' own sweep stays as it is.
 * A backend that is not its VM's default NIC is a render warning (render/load-balancer), so that
 * checking a load balancer never reads the DHCP hosts.
 */

/** Fields only HAProxy (mode http or tls) can honour, and what each needs. */
const PROXY_ONLY = ['proxyProtocol', 'maxConnectionsPerBackend', 'maxConnectionsPerClient'] as const

export function lbMode(r: LoadBalancer): 'l4' | 'http' | 'tls' {
  return r.mode ?? 'l4'
}

function portSpan(r: { publicPorts: { start: number; end?: number } }): { start: number; end: number } {
  return normalizePorts(r.publicPorts)
}

function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start <= b.end && b.start <= a.end && a.start <= a.end && b.start <= b.end
}

function checkOverlaps(ix: ConfigIndex, r: LoadBalancer, i: number, path: string, push: Push): void {
  const mine = portSpan(r)
  ix.scan('portForwards', (f, j) => {
    if (f.publicIp === r.publicIp && f.protocol === r.protocol && overlaps(mine, portSpan(f))) {
      push(`${path}/publicPorts`, 'ERR_LOAD_BALANCER_OVERLAP', `${r.protocol} ${r.publicIp}:${mine.start}-${mine.end} overlaps the port forward /portForwards/${j}`)
    }
  })
  ix.scan('loadBalancers', (o, j) => {
    if (j !== i && o.publicIp === r.publicIp && o.protocol === r.protocol && overlaps(mine, portSpan(o))) {
      push(`${path}/publicPorts`, 'ERR_LOAD_BALANCER_OVERLAP', `${r.protocol} ${r.publicIp}:${mine.start}-${mine.end} overlaps /loadBalancers/${j}`)
    }
  })
}

function checkBackends(ix: ConfigIndex, r: LoadBalancer, path: string, push: Push): void {
  const priv = normalizePorts(r.privatePorts)
  const seen = new Map<string, number>()
  r.backends.forEach((b, k) => {
    const at = `${path}/backends/${k}`
    checkGuestAddress(ix, b.ip, `${at}/ip`, push)
    const first = b.port ?? priv.start
    if (first + (priv.end - priv.start) > 65535) push(`${at}/port`, 'ERR_BAD_PORT_RANGE', `${b.ip}:${first} cannot hold the rule's ${priv.end - priv.start + 1} ports`)
    const key = `${b.ip}:${first}`
    const twin = seen.get(key)
    if (twin !== undefined) push(at, 'ERR_DUPLICATE_BACKEND', `${key} is already /backends/${twin} of this load balancer`)
    else seen.set(key, k)
  })
  if (r.backends.length === 0 || r.backends.every((b) => b.weight === 0)) {
    push(`${path}/backends`, 'WARN_LB_NO_BACKENDS', 'no backend takes new connections: they are refused', 'warning')
  }
}

function checkModeFields(r: LoadBalancer, path: string, push: Push): void {
  const mode = lbMode(r)
  if (mode !== 'l4' && r.protocol !== 'tcp') push(`${path}/mode`, 'ERR_LB_MODE', `mode ${mode} proxies tcp only, not ${r.protocol}`)
  if (mode === 'tls' && r.tls === undefined) push(`${path}/tls`, 'ERR_LB_MODE', 'mode tls needs tls.certificate')
  if (mode !== 'tls' && r.tls !== undefined) push(`${path}/tls`, 'ERR_LB_MODE', `tls is for mode tls, not ${mode}`)
  if (mode === 'l4') {
    for (const field of PROXY_ONLY) if (r[field] !== undefined) push(`${path}/${field}`, 'ERR_LB_MODE', `${field} needs mode http or tls: the kernel path does not proxy`)
    if (r.stickiness !== undefined && r.stickiness.kind !== 'source') push(`${path}/stickiness/kind`, 'ERR_LB_MODE', `${r.stickiness.kind} stickiness needs mode http or tls: the kernel path does not read cookies`)
  } else if (r.sourceNat !== undefined) {
    push(`${path}/sourceNat`, 'ERR_LB_MODE', `sourceNat is for mode l4: HAProxy always connects from the router`)
  }
  const hc = r.healthCheck
  if (hc !== undefined) {
    if (r.protocol === 'udp' && hc.type !== 'tcp') push(`${path}/healthCheck/type`, 'ERR_LB_HEALTH_CHECK', 'a udp load balancer is checked with tcp on a named port')
    if (r.protocol === 'udp' && hc.port === undefined) push(`${path}/healthCheck/port`, 'ERR_LB_HEALTH_CHECK', 'a udp load balancer is checked with tcp: name the port')
    if (hc.type !== 'http' && (hc.path !== undefined || hc.expectStatus !== undefined)) push(`${path}/healthCheck/type`, 'ERR_LB_HEALTH_CHECK', 'path and expectStatus need type http')
    if ((hc.timeoutSeconds ?? 2) > (hc.intervalSeconds ?? 5)) push(`${path}/healthCheck/timeoutSeconds`, 'ERR_LB_HEALTH_CHECK', 'the timeout is longer than the interval')
  }
}

export const loadBalancers: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'loadBalancers', (r, i) => {
      const path = `/loadBalancers/${i}`
      checkPublicIpRef(ix, r.publicIp, `${path}/publicIp`, push)
      const pub = checkPorts(r.publicPorts, `${path}/publicPorts`, push)
      const priv = checkPorts(r.privatePorts, `${path}/privatePorts`, push)
      if (pub.end - pub.start !== priv.end - priv.start) {
        push(`${path}/privatePorts`, 'ERR_PORT_RANGE_LENGTH', `private range has ${priv.end - priv.start + 1} ports, public has ${pub.end - pub.start + 1}`)
      }
      const staticNat = ix.first(STATIC_NAT_BY_PUBLIC_IP, r.publicIp)
      if (staticNat !== undefined) push(`${path}/publicIp`, 'ERR_LOAD_BALANCER_ON_STATIC_NAT', `${r.publicIp} is static-NATed by /staticNats/${staticNat}`)
      checkOverlaps(ix, r, i, path, push)
      checkBackends(ix, r, path, push)
      checkModeFields(r, path, push)
      const stored = ix.facts?.certificates
      if (r.tls !== undefined && stored !== undefined && !stored.has(r.tls.certificate)) {
        push(`${path}/tls/certificate`, 'ERR_CERTIFICATE_MISSING', `no certificate "${r.tls.certificate}" is stored (PUT /v1/certificates/${r.tls.certificate} first)`)
      }
      checkCidrList(r.sourceCidrs, `${path}/sourceCidrs`, push)
    })
  },
  affected(ix, edit, picks) {
    const publicIps = [
      ...editedValues(edit, 'publicIps', (p) => p.ip), ...editedValues(edit, 'staticNats', (s) => s.publicIp),
      ...editedValues(edit, 'portForwards', (f) => f.publicIp), ...editedValues(edit, 'loadBalancers', (l) => l.publicIp),
    ]
    const touched = guestAddressesTouchedBy(edit)
    if (publicIps.length === 0 && touched === undefined) return
    picks.all('loadBalancers', ix.where('loadBalancers', (r) => publicIps.includes(r.publicIp) || r.backends.some((b) => touched?.(b.ip) ?? false)))
  },
}
