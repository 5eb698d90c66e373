import type { Diagnostic } from '../../core/errors.ts'
import { schemaDiagnostics } from '../../core/schema.ts'
import { parsePeerCidr } from './addresses.ts'
import { SecGroupDocument } from './model.ts'

/**
 * Pure. Every problem of a security-group document, each with its JSON pointer and a stable
 * code: schema first; then unique ids and devices, a bridge and its conntrack zone given together
 * and one to one, references to groups that exist, a rule's peer given once (cidrs or
 * remoteGroup), matches its protocol can make, and networks of the family its protocol speaks.
 */
export function checkSecGroups(value: unknown): Diagnostic[] {
  const schema = schemaDiagnostics(SecGroupDocument, value)
  return schema.length > 0 ? schema : secGroupProblems(value as SecGroupDocument)
}

/** Pure. The semantic problems of a document that passed the schema (routerd's checks use this part). */
export function secGroupProblems(doc: SecGroupDocument): Diagnostic[] {
  const out: Diagnostic[] = []
  const push = (path: string, code: string, message: string) => out.push({ severity: 'error', path, code, message })

  for (const collection of ['ports', 'securityGroups', 'securityGroupRules'] as const) {
    const seen = new Map<string, number>()
    doc[collection].forEach((item, i) => {
      const first = seen.get(item.id)
      if (first !== undefined) push(`/${collection}/${i}/id`, 'ERR_DUPLICATE_ID', `id "${item.id}" is already used by /${collection}/${first}`)
      else seen.set(item.id, i)
    })
  }
  const groups = new Set(doc.securityGroups.map((g) => g.id))
  const devices = new Map<string, number>()
  // A bridge has one zone and a zone one bridge: the first port to name either sets it.
  const zoneOf = new Map<string, [number, number]>()
  const bridgeOf = new Map<number, [string, number]>()
  doc.ports.forEach((p, i) => {
    if ((p.bridge === undefined) !== (p.zone === undefined)) push(`/ports/${i}/${p.zone === undefined ? 'bridge' : 'zone'}`, 'ERR_ZONE_BRIDGE', 'bridge and zone are given together: the zone is the bridge\'s')
    if (p.bridge === undefined || p.zone === undefined) return
    const zone = zoneOf.get(p.bridge)
    const bridge = bridgeOf.get(p.zone)
    if (zone !== undefined && zone[0] !== p.zone) push(`/ports/${i}/zone`, 'ERR_ZONE_CONFLICT', `bridge ${p.bridge} has zone ${zone[0]} (/ports/${zone[1]}): every port of a bridge has its zone`)
    else if (bridge !== undefined && bridge[0] !== p.bridge) push(`/ports/${i}/zone`, 'ERR_ZONE_CONFLICT', `zone ${p.zone} is bridge ${bridge[0]}'s (/ports/${bridge[1]}): two networks in one zone would see each other's connections`)
    else { zoneOf.set(p.bridge, [p.zone, i]); bridgeOf.set(p.zone, [p.bridge, i]) }
  })
  doc.ports.forEach((p, i) => {
    const first = devices.get(p.device)
    if (first !== undefined) push(`/ports/${i}/device`, 'ERR_DEVICE_CLAIMED', `device ${p.device} is already the port of /ports/${first}`)
    else devices.set(p.device, i)
    p.groups.forEach((g, j) => {
      if (!groups.has(g)) push(`/ports/${i}/groups/${j}`, 'ERR_UNKNOWN_GROUP', `no security group has id "${g}"`)
    })
  })
  doc.securityGroupRules.forEach((r, i) => {
    const path = `/securityGroupRules/${i}`
    if (!groups.has(r.group)) push(`${path}/group`, 'ERR_UNKNOWN_GROUP', `no security group has id "${r.group}"`)
    if (r.remoteGroup !== undefined && !groups.has(r.remoteGroup)) push(`${path}/remoteGroup`, 'ERR_UNKNOWN_GROUP', `no security group has id "${r.remoteGroup}"`)
    if (r.remoteGroup !== undefined && r.cidrs !== undefined) push(path, 'ERR_RULE_PEER', 'give cidrs or remoteGroup, not both')
    const ported = r.protocol === 'tcp' || r.protocol === 'udp'
    const icmp = r.protocol === 'icmp' || r.protocol === 'icmpv6'
    if (r.ports !== undefined && !ported) push(`${path}/ports`, 'ERR_RULE_MATCH', `ports need protocol tcp or udp (protocol is ${r.protocol})`)
    if (r.ports !== undefined && (r.ports.end ?? r.ports.start) < r.ports.start) push(`${path}/ports/end`, 'ERR_BAD_PORT_RANGE', `end ${r.ports.end} is below start ${r.ports.start}`)
    if ((r.icmpType !== undefined || r.icmpCode !== undefined) && !icmp) push(path, 'ERR_RULE_MATCH', `icmpType and icmpCode need protocol icmp or icmpv6 (protocol is ${r.protocol})`)
    if (r.icmpCode !== undefined && r.icmpType === undefined) push(`${path}/icmpCode`, 'ERR_RULE_MATCH', 'icmpCode needs icmpType')
    const families = new Set<number>()
    r.cidrs?.forEach((c, j) => {
      const parsed = parsePeerCidr(c)
      if ('problem' in parsed) push(`${path}/cidrs/${j}`, 'ERR_BAD_CIDR', parsed.problem)
      else families.add(parsed.family)
    })
    if (r.protocol === 'icmp' && families.size > 0 && !families.has(4)) push(`${path}/cidrs`, 'ERR_RULE_FAMILY', 'icmp is IPv4: give at least one IPv4 network')
    if (r.protocol === 'icmpv6' && families.size > 0 && !families.has(6)) push(`${path}/cidrs`, 'ERR_RULE_FAMILY', 'icmpv6 is IPv6: give at least one IPv6 network')
  })
  return out
}
