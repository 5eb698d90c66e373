import { splitLine } from './args.ts'
import { formatIpv4, parseIpv4 } from '../../../core/ipv4.ts'
import { formatPrefix, NetError, NetState, parsePrefix, RT_TABLES, tableName, type Addr, type Link, type Route, type Rule } from './net-state.ts'
import { failed, inputLines, ok, type LineFault, type ToolOutcome } from './outcome.ts'

/**
 * The `ip` command (iproute2 6.1) over NetState: `-json` show output shaped like the real
 * one (the fields routerd reads and their neighbours), and `-batch -` running line by line,
 * stopping at the first failing line with "<reason>\nCommand failed -:N" and exit 1.
 * Text (non-JSON) show output is not produced: routerd never reads it.
 */

const FOREVER = 4294967295

function tableId(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  return RT_TABLES[text] ?? (/^\d+$/.test(text) ? Number(text) : undefined)
}

function garbage(word: string): NetError {
  return new NetError(`Error: either "to" is duplicate, or "${word}" is a garbage.`, 'tool')
}

function needIp(text: string | undefined): number {
  const value = text === undefined ? undefined : parseIpv4(text)
  if (value === undefined) throw new NetError(`Error: inet address is expected rather than "${text ?? ''}".`, 'tool')
  return value
}

function number(text: string | undefined, what: string): number {
  if (text === undefined || !/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new NetError(`Error: argument "${text ?? ''}" is wrong: ${what}`, 'tool')
  return Number(text)
}

function eui64(mac: string): string {
  const b = mac.split(':').map((h) => parseInt(h, 16))
  const words = [((b[0] ?? 0) ^ 2) << 8 | (b[1] ?? 0), (b[2] ?? 0) << 8 | 0xff, 0xfe << 8 | (b[3] ?? 0), (b[4] ?? 0) << 8 | (b[5] ?? 0)]
  return `fe80::${words.map((w) => w.toString(16)).join(':').replace(/^0:/, '')}`
}

function linkJson(l: Link, withMode: boolean): Record<string, unknown> {
  const loop = l.type === 'loopback'
  const flags = loop ? ['LOOPBACK', 'UP', 'LOWER_UP'].filter((f) => l.up || f === 'LOOPBACK') : ['BROADCAST', 'MULTICAST', ...(l.up ? ['UP', 'LOWER_UP'] : [])]
  return {
    ifindex: l.ifindex, ifname: l.name, flags, mtu: l.mtu, qdisc: l.up ? 'noqueue' : 'noop',
    operstate: loop ? 'UNKNOWN' : l.up ? 'UP' : 'DOWN', ...(withMode ? { linkmode: 'DEFAULT' } : {}), group: 'default', txqlen: 1000,
    link_type: loop ? 'loopback' : 'ether', address: l.mac, broadcast: loop ? '00:00:00:00:00:00' : 'ff:ff:ff:ff:ff:ff',
  }
}

function addrJson(a: Addr): Record<string, unknown> {
  return {
    family: 'inet', local: formatIpv4(a.address), prefixlen: a.prefix, scope: a.scope, ...(a.secondary ? { secondary: true } : {}),
    label: a.dev, valid_life_time: FOREVER, preferred_life_time: FOREVER,
  }
}

function routeJson(r: Route, showTable: boolean, showProto: boolean): Record<string, unknown> {
  return {
    ...(r.type === 'unicast' ? {} : { type: r.type }),
    dst: formatPrefix(r.dst),
    ...(r.gateway === undefined ? {} : { gateway: formatIpv4(r.gateway) }),
    dev: r.dev,
    ...(showTable && r.table !== 254 ? { table: tableName(r.table) } : {}),
    ...(showProto ? { protocol: r.protocol === 2 ? 'kernel' : String(r.protocol) } : {}),
    ...(r.scope === 'universe' ? {} : { scope: r.scope }),
    ...(r.prefsrc === undefined ? {} : { prefsrc: formatIpv4(r.prefsrc) }),
    flags: [],
  }
}

function ruleJson(r: Rule): Record<string, unknown> {
  return {
    priority: r.priority,
    src: r.src === undefined ? 'all' : formatIpv4(r.src.address),
    ...(r.src !== undefined && r.src.prefix !== 32 ? { srclen: r.src.prefix } : {}),
    ...(r.fwmark === undefined ? {} : { fwmark: `0x${r.fwmark.toString(16)}` }),
    ...(r.fwmask === undefined || r.fwmask === 0xffffffff ? {} : { fwmask: `0x${r.fwmask.toString(16)}` }),
    table: tableName(r.table),
    ...(r.suppress === undefined ? {} : { suppress_prefixlen: r.suppress }),
    ...(r.protocol !== 0 && r.protocol !== 2 ? { protocol: String(r.protocol) } : {}),
  }
}

export class FakeIp {
  constructor(readonly state: NetState) {}

  /** Runs `ip <args>` with `stdin`. */
  run(args: readonly string[], stdin: string, fault: LineFault | undefined): ToolOutcome {
    let json = false
    let i = 0
    for (; i < args.length && args[i]?.startsWith('-'); i++) {
      const a = args[i]
      if (a === '-json' || a === '-j') json = true
      else if (a === '-4') continue
      else if (a === '-batch' || a === '-b') return args[i + 1] === '-' ? this.batch(stdin, fault) : failed(1, 'Cannot open file for batch\n')
      else return failed(255, `Option "${a ?? ''}" is unknown, try "ip -help".\n`)
    }
    try {
      return ok(this.execute(args.slice(i), json))
    } catch (err) {
      if (err instanceof NetError) return failed(err.origin === 'kernel' ? 2 : 1, `${err.message}\n`)
      throw err
    }
  }

  private batch(stdin: string, fault: LineFault | undefined): ToolOutcome {
    const lines = inputLines(stdin)
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i] as string
      const args = splitLine(text.trim())
      if (args === undefined || args.length === 0 || args[0]?.startsWith('#') === true) continue
      try {
        if (fault?.matches(i + 1, text) === true) {
          fault.fired()
          throw new NetError(`RTNETLINK answers: ${fault.message ?? 'Cannot allocate memory'}`, 'kernel')
        }
        this.execute(args, false)
      } catch (err) {
        if (err instanceof NetError) return failed(1, `${err.message}\nCommand failed -:${i + 1}\n`)
        throw err
      }
    }
    return ok()
  }

  private execute(args: readonly string[], json: boolean): string {
    const [object, verb = 'show', ...rest] = args
    const show = verb === 'show' || verb === 'list' || verb === 'ls'
    if (show && !json) throw new NetError('fake kernel: only -json show output is implemented', 'tool')
    switch (object) {
      case 'link': case 'l':
        if (show) return this.showLinks(rest, false)
        if (verb === 'set') return this.linkSet(rest)
        break
      case 'address': case 'addr': case 'a':
        if (show) return this.showLinks(rest, true)
        if (verb === 'add' || verb === 'del' || verb === 'delete') return this.address(verb === 'add', rest)
        break
      case 'route': case 'r':
        if (show) return this.showRoutes(rest)
        if (verb === 'replace' || verb === 'add' || verb === 'del' || verb === 'delete') return this.route(verb, rest)
        break
      case 'rule': case 'ru':
        if (show) return JSON.stringify(this.state.rules.map(ruleJson)) + '\n'
        if (verb === 'add' || verb === 'del' || verb === 'delete') return this.rule(verb === 'add', rest)
        break
      default:
        throw new NetError(`Object "${object ?? ''}" is unknown, try "ip help".`, 'tool')
    }
    throw new NetError(`Command "${verb}" is unknown, try "ip ${object ?? ''} help".`, 'tool')
  }

  private showLinks(rest: readonly string[], addresses: boolean): string {
    const dev = rest[0] === 'dev' ? rest[1] : rest[0]
    const links = dev === undefined ? this.state.links : [this.state.link(dev)]
    return JSON.stringify(links.map((l) => {
      if (!addresses) return linkJson(l, true)
      const info: Record<string, unknown>[] = this.state.addresses.filter((a) => a.dev === l.name).map(addrJson)
      if (l.up) {
        info.push(l.type === 'loopback'
          ? { family: 'inet6', local: '::1', prefixlen: 128, scope: 'host', valid_life_time: FOREVER, preferred_life_time: FOREVER }
          : { family: 'inet6', local: eui64(l.mac), prefixlen: 64, scope: 'link', valid_life_time: FOREVER, preferred_life_time: FOREVER })
      }
      return { ...linkJson(l, false), addr_info: info }
    })) + '\n'
  }

  private showRoutes(rest: readonly string[]): string {
    let table: number | 'all' = 254
    let proto: number | undefined
    for (let i = 0; i < rest.length; i += 2) {
      const [key, value] = [rest[i], rest[i + 1]]
      if (key === 'table') table = value === 'all' ? 'all' : tableId(value) ?? 254
      else if (key === 'proto' || key === 'protocol') proto = value === 'kernel' ? 2 : number(value, 'invalid protocol')
      else throw garbage(key ?? '')
    }
    const routes = [...this.state.routes, ...this.state.connectedRoutes()]
      .filter((r) => (table === 'all' || r.table === table) && (proto === undefined || r.protocol === proto))
      .sort((a, b) => a.table - b.table || a.dst.address - b.dst.address || b.dst.prefix - a.dst.prefix)
    return JSON.stringify(routes.map((r) => routeJson(r, table === 'all', proto === undefined))) + '\n'
  }

  private linkSet(rest: readonly string[]): string {
    const change: { mtu?: number; up?: boolean } = {}
    let dev: string | undefined
    for (let i = 0; i < rest.length; i++) {
      const word = rest[i] as string
      if (word === 'dev') dev = rest[++i]
      else if (word === 'up' || word === 'down') change.up = word === 'up'
      else if (word === 'mtu') change.mtu = number(rest[++i], 'Invalid "mtu" value')
      else if (dev === undefined) dev = word
      else throw garbage(word)
    }
    if (dev === undefined) throw new NetError('Not enough of information: "dev" argument is required.', 'tool')
    this.state.setLink(dev, change)
    return ''
  }

  private address(add: boolean, rest: readonly string[]): string {
    let cidr: string | undefined
    let dev: string | undefined
    let scope = 'global'
    for (let i = 0; i < rest.length; i++) {
      const word = rest[i] as string
      if (word === 'dev') dev = rest[++i]
      else if (word === 'scope') scope = rest[++i] ?? 'global'
      else if (word === 'local' && cidr === undefined) cidr = rest[++i]
      else if (cidr === undefined) cidr = word
      else throw garbage(word)
    }
    if (dev === undefined) throw new NetError('Not enough information: "dev" argument is required.', 'tool')
    const parsed = cidr === undefined ? undefined : parsePrefix(cidr)
    if (parsed === undefined || cidr === 'default') throw new NetError(`Error: inet prefix is expected rather than "${cidr ?? ''}".`, 'tool')
    if (add) this.state.addAddress(dev, parsed, scope)
    else this.state.delAddress(dev, parsed, cidr?.includes('/') === true)
    return ''
  }

  private route(verb: string, rest: readonly string[]): string {
    let dst: string | undefined
    let gateway: number | undefined
    let dev: string | undefined
    let table = 254
    let protocol: number | undefined
    for (let i = 0; i < rest.length; i++) {
      const word = rest[i] as string
      if (word === 'via') gateway = needIp(rest[++i])
      else if (word === 'dev') dev = rest[++i]
      else if (word === 'table') {
        const id = tableId(rest[++i])
        if (id === undefined) throw new NetError(`Error: argument "${rest[i] ?? ''}" is wrong: "table" value is invalid`, 'tool')
        table = id
      } else if (word === 'proto' || word === 'protocol') protocol = number(rest[++i], 'invalid "protocol" value')
      else if (dst === undefined) dst = word
      else throw garbage(word)
    }
    const prefix = dst === undefined ? undefined : parsePrefix(dst)
    if (prefix === undefined) throw new NetError(`Error: inet prefix is expected rather than "${dst ?? ''}".`, 'tool')
    if (verb === 'del' || verb === 'delete') this.state.delRoute({ table, dst: prefix, gateway, dev, protocol })
    // ip route add/replace without `proto` marks the route "boot" (3).
    else this.state.putRoute({ table, dst: prefix, gateway, dev, protocol: protocol ?? 3 }, verb === 'replace')
    return ''
  }

  private rule(add: boolean, rest: readonly string[]): string {
    const r: { priority?: number; src?: ReturnType<typeof parsePrefix>; fwmark?: number; fwmask?: number; table?: number; suppress?: number; protocol?: number } = {}
    for (let i = 0; i < rest.length; i++) {
      const word = rest[i] as string
      const value = rest[++i]
      if (word === 'priority' || word === 'pref' || word === 'preference') r.priority = number(value, 'Invalid "priority"')
      else if (word === 'from') {
        const src = value === undefined ? undefined : parsePrefix(value)
        if (src === undefined) throw new NetError(`Error: inet prefix is expected rather than "${value ?? ''}".`, 'tool')
        if (src.prefix !== 0) r.src = src
      } else if (word === 'fwmark') {
        const [mark, mask] = (value ?? '').split('/')
        r.fwmark = number(mark, 'fwmark value is invalid')
        r.fwmask = mask === undefined ? 0xffffffff : number(mask, 'fwmask value is invalid')
      } else if (word === 'lookup' || word === 'table') {
        const id = tableId(value)
        if (id === undefined) throw new NetError(`Error: argument "${value ?? ''}" is wrong: invalid table ID`, 'tool')
        r.table = id
      } else if (word === 'suppress_prefixlength') r.suppress = number(value, 'suppress_prefixlength value is invalid')
      else if (word === 'protocol' || word === 'proto') r.protocol = number(value, 'Invalid "protocol"')
      else throw new NetError(`Error: argument "${word}" is wrong: Failed to parse rule type`, 'tool')
    }
    if (add) {
      this.state.addRule({
        priority: r.priority ?? 0, src: r.src, fwmark: r.fwmark, fwmask: r.fwmask, table: r.table ?? 254,
        suppress: r.suppress, protocol: r.protocol ?? 4 /* RTPROT_STATIC: what iproute2 sets when none is given */,
      })
    } else {
      const match: Parameters<NetState['delRule']>[0] = {}
      for (const key of ['priority', 'fwmark', 'fwmask', 'table', 'suppress', 'protocol'] as const) if (r[key] !== undefined) match[key] = r[key]
      if (r.src !== undefined) match.src = r.src
      this.state.delRule(match)
    }
    return ''
  }
}
