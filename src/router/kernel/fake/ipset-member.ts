import { formatIpv4, maskOf, parseIpv4 } from '../../../core/ipv4.ts'

/**
 * Pure. Parses an ipset member for a set type and returns the entries it stands for, in the
 * form `ipset save` prints them, or the reason ipset refuses it. Like the real tool: a hash:net
 * member is masked to its network and printed without `/32`; a port range in a hash:ip,port
 * member stands for one entry per port; a port without a protocol is tcp.
 */
export function parseMember(type: string, text: string): { entries: string[] } | { error: string } {
  switch (type) {
    case 'hash:net': return netMember(text)
    case 'hash:ip': return ipMember(text)
    case 'hash:ip,port': return ipPortMember(text)
    default: return { error: `Syntax error: unsupported set type ${type}` }
  }
}

function address(text: string): number | { error: string } {
  const value = parseIpv4(text)
  return value === undefined ? { error: `Syntax error: cannot parse ${text}: resolving to IPv4 address failed` } : value
}

function netMember(text: string): { entries: string[] } | { error: string } {
  const [ip = '', prefixText, ...rest] = text.split('/')
  if (rest.length > 0) return { error: `Syntax error: cannot parse ${text}: resolving to IPv4 address failed` }
  const value = address(ip)
  if (typeof value !== 'number') return value
  const prefix = prefixText === undefined ? 32 : /^\d+$/.test(prefixText) ? Number(prefixText) : NaN
  if (!(prefix >= 0 && prefix <= 32)) return { error: `Syntax error: '${prefixText ?? ''}' is out of range 1-32` }
  // A /0 passes ipset's parser; the kernel refuses it (see ipset.ts).
  const network = formatIpv4((value & maskOf(prefix)) >>> 0)
  return { entries: [prefix === 32 ? network : `${network}/${prefix}`] }
}

function ipMember(text: string): { entries: string[] } | { error: string } {
  const [ip = '', prefixText] = text.split('/')
  const value = address(ip)
  if (typeof value !== 'number') return value
  if (prefixText !== undefined && prefixText !== '32') return { error: 'Syntax error: the fake kernel takes single addresses in hash:ip sets' }
  return { entries: [formatIpv4(value)] }
}

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp', 'udplite'])

function ipPortMember(text: string): { entries: string[] } | { error: string } {
  const comma = text.indexOf(',')
  if (comma === -1) return { error: `Syntax error: cannot parse ${text}: second element is missing from ${text}.` }
  const value = address(text.slice(0, comma))
  if (typeof value !== 'number') return value
  let portPart = text.slice(comma + 1)
  let proto = 'tcp'
  const colon = portPart.indexOf(':')
  if (colon !== -1) {
    proto = portPart.slice(0, colon)
    portPart = portPart.slice(colon + 1)
    if (!PROTOCOLS.has(proto)) return { error: `Syntax error: cannot parse '${proto}' as a protocol` }
  }
  const [fromText = '', toText] = portPart.split('-')
  const from = port(fromText)
  const to = toText === undefined ? from : port(toText)
  if (from === undefined || to === undefined) return { error: `Syntax error: cannot parse '${portPart}' as a ${proto} port` }
  const entries: string[] = []
  const ip = formatIpv4(value)
  for (let p = Math.min(from, to); p <= Math.max(from, to); p++) entries.push(`${ip},${proto}:${p}`)
  return { entries }
}

function port(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined
  const n = Number(text)
  return n <= 65535 ? n : undefined
}
