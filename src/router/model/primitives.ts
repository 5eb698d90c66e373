import Type from 'typebox'

/**
 * Shared schema pieces. Text formats are checked loosely by pattern here (so the JSON path of a
 * bad value is reported by schema validation) and exactly by the semantic checks in check.ts.
 */

/** The orchestrator's id for an item; kernel names derive from it, never from array positions. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'

export const Id = Type.String({
  pattern: ID_PATTERN,
  description: "The orchestrator's id for this item (1-64 characters: letters, digits, . _ : -)",
})

export const Ipv4 = Type.String({ format: 'ipv4', description: 'IPv4 address, dotted quad' })

export const Cidr = Type.String({
  pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$',
  description: 'IPv4 network in CIDR notation, host bits clear (e.g. 10.1.1.0/24)',
})

export const HostCidr = Type.String({
  pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$',
  description: 'IPv4 interface address with prefix length (e.g. 169.254.0.10/16)',
})

export const Mac = Type.String({
  pattern: '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$',
  description: 'Ethernet MAC address, colon separated',
})

export const Port = Type.Integer({ minimum: 1, maximum: 65535 })

export const PortRange = Type.Object(
  {
    start: Port,
    end: Type.Optional(Port),
  },
  { additionalProperties: false, description: 'Inclusive port range; end defaults to start' },
)

/**
 * A list of CIDRs. Never empty: an orchestrator that intersects source lists and gets nothing
 * must not open a port to the world; "everyone" is said by omitting the field or by 0.0.0.0/0.
 */
export function cidrList(description: string) {
  return Type.Array(Cidr, { minItems: 1, maxItems: 1024, description: `${description}; never empty` })
}

/** A DNS domain every label of which fits the wire format: 1-63 bytes a label, 253 characters in all, no trailing dot. */
export const DomainName = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9-]{0,62}(\\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*$',
  maxLength: 253,
  description: 'DNS domain name: labels of 1-63 letters, digits or hyphens, 253 characters at most, no trailing dot',
})
