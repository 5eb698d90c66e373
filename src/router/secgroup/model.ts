import Type, { type Static } from 'typebox'
import { Id, Ipv4, Mac, PortRange } from '../model/primitives.ts'

/**
 * The security-group model (issue 13, role `secgroup`): VM ports on a hypervisor host, the
 * groups they belong to and the groups' rules. Pure schemas; semantic checks in check.ts, the
 * kernel rendering in render.ts. Not yet part of routerd's document (model/config.ts): the role,
 * its chain-owning apply and its API come next, on this model.
 */

const strict = { additionalProperties: false } as const

export const Ipv6 = Type.String({ format: 'ipv6', description: 'IPv6 address' })

export const SgPort = Type.Object(
  {
    id: Id,
    device: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$', description: "The VM's tap (or veth) on the host bridge; it need not exist yet (matched by name)" }),
    mac: Mac,
    ipv4: Type.Array(Ipv4, { maxItems: 64, description: 'The addresses the VM may send from: its own and its secondary IPs (CloudStack vmsecips)' }),
    ipv6: Type.Optional(Type.Array(Ipv6, { maxItems: 64, description: 'Its IPv6 addresses besides the EUI-64 link-local one, which is always allowed' })),
    groups: Type.Array(Id, { maxItems: 32, description: 'The security groups whose rules apply to this port, and whose remote-group sets hold its addresses' }),
    bridge: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$', description: 'The Linux bridge the port is on (its L2 network); given with zone' })),
    zone: Type.Optional(Type.Integer({
      minimum: 1, maximum: 65535,
      description: "The conntrack zone of the port's bridge, where tenants may reuse addresses on one host: every packet through the bridge is tracked in it, so one network's connections never match another's. Every port of a bridge has the same zone; a zone is one bridge's",
    })),
  },
  { ...strict, description: "A VM's port on this host" },
)

export const SecurityGroup = Type.Object({ id: Id }, { ...strict, description: 'A security group' })

export const SgProtocol = Type.Union([
  Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('icmp'), Type.Literal('icmpv6'), Type.Literal('all'),
  Type.Integer({ minimum: 0, maximum: 255, description: 'An IP protocol number' }),
])

export const SecurityGroupRule = Type.Object(
  {
    id: Id,
    group: Id,
    direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')]),
    protocol: SgProtocol,
    ports: Type.Optional(PortRange),
    icmpType: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    icmpCode: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    cidrs: Type.Optional(Type.Array(Type.String({ minLength: 2, maxLength: 43 }), {
      minItems: 1, maxItems: 64, description: 'IPv4 or IPv6 networks the peer is in (default: anywhere, both families)',
    })),
    remoteGroup: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$', description: "The peer is a member of this group (its ports' addresses)" })),
  },
  { ...strict, description: 'Allows traffic to (ingress) or from (egress) the ports of its group' },
)

export const SecGroupDocument = Type.Object(
  {
    ports: Type.Array(SgPort, { maxItems: 4096 }),
    securityGroups: Type.Array(SecurityGroup, { maxItems: 4096 }),
    securityGroupRules: Type.Array(SecurityGroupRule, { maxItems: 65536 }),
  },
  { ...strict, description: 'The security groups of one hypervisor host' },
)

export type SgPort = Static<typeof SgPort>
export type SecurityGroup = Static<typeof SecurityGroup>
export type SecurityGroupRule = Static<typeof SecurityGroupRule>
export type SecGroupDocument = Static<typeof SecGroupDocument>
