import { formatIpv4, maskOf, parseIpv4 } from '../../../core/ipv4.ts'

/**
 * Pure. Parses the arguments of one iptables rule (what follows `-A <chain>`) the way
 * iptables-nft 1.8.9 does, and prints it the way its iptables-save does:
 * - `-s -d -i -o -p` first, in that order, whatever their place in the input;
 * - matches in input order, each module's options in the module's own order; a tcp/udp/icmp
 *   option without its `-m` loads the module where the option stands (`-p tcp --dport 80`
 *   prints `-p tcp -m tcp --dport 80`);
 * - addresses as network/prefix (`-d 1.2.3.4` prints `1.2.3.4/32`, `10.1.2.3/8` prints `10.0.0.0/8`);
 * - a comment quoted unless it is only letters, digits, `_` and `-` (xtables_save_string);
 * - CONNMARK marks in hex.
 * Only the modules and targets routerd renders (and a few neighbours) are known; any other
 * is refused as the real tool refuses an unknown one, with the real message. What the kernel
 * refuses at commit (a NAT target outside nat) is iptables.ts's part: `tables` says where the
 * target may stand.
 */

export interface ParsedRule {
  /** The rule as iptables-save prints it after `-A <chain> `. */
  text: string
  /** ipsets the rule names (the kernel holds a reference to each). */
  sets: string[]
  /** `-j`/`-g` target that is neither a verdict nor an extension: a chain that must exist at commit. */
  chainTarget: string | undefined
  /** The target extension if it is only valid in some tables (DNAT, SNAT…), for the kernel's check. */
  tables: readonly string[] | undefined
}

/** A rule iptables-restore's parser refuses (exit 2, "Error occurred at line"), with its message. */
export interface RuleError { error: string }

type Values = string[]
interface OptionSpec {
  /** Canonical name first, then aliases. */
  names: readonly string[]
  arity: number
  /** Checks and canonicalizes the values, or returns the tool's message. */
  check?: (values: Values) => Values | { error: string }
  /** How iptables-save prints the values (default: as given). */
  print?: (values: Values) => string[]
}
interface ModuleSpec { options: readonly OptionSpec[] }
interface TargetSpec extends ModuleSpec { tables?: readonly string[] }

const VERDICTS = new Set(['ACCEPT', 'DROP', 'RETURN', 'QUEUE'])

function portCheck(values: Values): Values | { error: string } {
  const text = values[0] as string
  const parts = text.split(':')
  if (parts.length > 2) return { error: `invalid portrange (min > max) specified` }
  for (const p of parts) {
    if (p === '' ? false : !/^\d{1,5}$/.test(p) || Number(p) > 65535) return { error: `invalid port/service \`${p}' specified` }
  }
  const [lo = '0', hi = '65535'] = parts.length === 1 ? [parts[0] as string, parts[0] as string] : [parts[0] || '0', parts[1] || '65535']
  if (Number(lo) > Number(hi)) return { error: 'invalid portrange (min > max) specified' }
  return [lo === hi ? String(Number(lo)) : `${Number(lo)}:${Number(hi)}`]
}

function portListCheck(values: Values): Values | { error: string } {
  const ports = (values[0] as string).split(',')
  let count = 0
  const out: string[] = []
  for (const p of ports) {
    const checked = portCheck([p])
    if ('error' in checked) return checked
    count += p.includes(':') ? 2 : 1
    out.push(checked[0] as string)
  }
  if (count > 15) return { error: 'too many ports specified' }
  return [out.join(',')]
}

const CT_STATES = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT']

function ctstateCheck(values: Values): Values | { error: string } {
  const states = (values[0] as string).split(',')
  for (const s of states) if (!CT_STATES.includes(s)) return { error: `Bad ctstate "${s}"` }
  return [CT_STATES.filter((s) => states.includes(s)).join(',')]
}

const REJECT_WITH = ['icmp-net-unreachable', 'icmp-host-unreachable', 'icmp-port-unreachable', 'icmp-proto-unreachable',
  'icmp-net-prohibited', 'icmp-host-prohibited', 'icmp-admin-prohibited', 'tcp-reset']

function rejectWithCheck(values: Values): Values | { error: string } {
  const kind = values[0] as string
  return REJECT_WITH.includes(kind) ? values : { error: `unknown reject type "${kind}"` }
}

function icmpTypeCheck(values: Values): Values | { error: string } {
  const text = values[0] as string
  if (!/^\d{1,3}(\/\d{1,3})?$/.test(text) || text.split('/').some((n) => Number(n) > 255)) return { error: `Invalid ICMP type \`${text}'` }
  return [text]
}

function commentCheck(values: Values): Values | { error: string } {
  return (values[0] as string).length > 255 ? { error: 'COMMENT must be shorter than 256 characters' } : values
}

function setFlagsCheck(values: Values): Values | { error: string } {
  const flags = (values[1] as string).split(',')
  if (flags.length > 6 || flags.some((f) => f !== 'src' && f !== 'dst')) return { error: `You must specify (the comma separated list of) 'src' or 'dst'.` }
  return values
}

/** A mark as iptables-save prints it: hex value, hex mask. */
function markCheck(values: Values): Values | { error: string } {
  const [v = '', m] = (values[0] as string).split('/')
  const value = Number(v)
  const mask = m === undefined ? 0xffffffff : Number(m)
  if (!Number.isSafeInteger(value) || !Number.isSafeInteger(mask) || value < 0 || mask < 0 || value > 0xffffffff || mask > 0xffffffff) {
    return { error: `Bad mark value "${values[0] as string}"` }
  }
  return [`0x${value.toString(16)}/0x${mask.toString(16)}`]
}

function maskCheck(values: Values): Values | { error: string } {
  const n = Number(values[0])
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) return { error: `Bad mask value "${values[0] as string}"` }
  return [`0x${n.toString(16)}`]
}

/** `ip[-ip][:port[-port]][/base]` for DNAT/SNAT. */
function natRangeCheck(values: Values): Values | { error: string } {
  const text = values[0] as string
  const m = /^([0-9.]+)(?:-([0-9.]+))?(?::(\d+)(?:-(\d+))?(?:\/(\d+))?)?$/.exec(text)
  if (m === null || parseIpv4(m[1] as string) === undefined || (m[2] !== undefined && parseIpv4(m[2]) === undefined)) {
    return { error: `Bad IP address "${text.split(':')[0] ?? text}"` }
  }
  for (const p of [m[3], m[4], m[5]]) if (p !== undefined && Number(p) > 65535) return { error: `Port "${p}" not valid` }
  return [text]
}

/** A MAC as iptables-save prints it (lower-case hex). */
function macCheck(values: Values): Values | { error: string } {
  const text = values[0] as string
  if (!/^[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){5}$/.test(text)) return { error: 'Invalid MAC address specified.' }
  return [text.split(':').map((b) => b.padStart(2, '0').toLowerCase()).join(':')]
}

/** A statistic probability as iptables-save prints it: kept as a 31-bit fraction. */
function probabilityCheck(values: Values): Values | { error: string } {
  const p = Number(values[0])
  if (!/^[0-9.]+$/.test(values[0] as string) || Number.isNaN(p) || p < 0 || p > 1) return { error: 'probability must be between 0 and 1' }
  return [(Math.round(p * 0x80000000) / 0x80000000).toFixed(11)]
}

function countCheck(values: Values): Values | { error: string } {
  return /^\d{1,10}$/.test(values[0] as string) ? [String(Number(values[0]))] : { error: `Bad value "${values[0] as string}"` }
}

function modeCheck(values: Values): Values | { error: string } {
  return values[0] === 'random' || values[0] === 'nth' ? values : { error: `Bad mode "${values[0] as string}"` }
}

/** A conntrack address as iptables-save prints it: a host without its /32. */
function ctAddressCheck(values: Values): Values | { error: string } {
  const a = address(values[0] as string)
  if (a === undefined) return { error: `host/network \`${values[0] as string}' not found` }
  return [a.endsWith('/32') ? a.slice(0, -3) : a]
}

function timeoutCheck(values: Values): Values | { error: string } {
  const n = Number(values[0])
  return /^\d+$/.test(values[0] as string) && n <= 2147483 ? [String(n)] : { error: `Invalid value for option --timeout or out of range 0-2147483` }
}

const NO_QUOTE = /^[A-Za-z0-9_-]+$/

/** Pure. A string as xtables_save_string prints it. */
export function saveString(value: string): string {
  return NO_QUOTE.test(value) ? value : `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`
}

const port = (names: string[]): OptionSpec => ({ names, arity: 1, check: portCheck })

const MODULES: Readonly<Record<string, ModuleSpec>> = {
  tcp: { options: [port(['--sport', '--source-port']), port(['--dport', '--destination-port'])] },
  udp: { options: [port(['--sport', '--source-port']), port(['--dport', '--destination-port'])] },
  icmp: { options: [{ names: ['--icmp-type'], arity: 1, check: icmpTypeCheck }] },
  multiport: {
    options: [
      { names: ['--sports', '--source-ports'], arity: 1, check: portListCheck },
      { names: ['--dports', '--destination-ports'], arity: 1, check: portListCheck },
      { names: ['--ports'], arity: 1, check: portListCheck },
    ],
  },
  conntrack: {
    options: [
      { names: ['--ctstate'], arity: 1, check: ctstateCheck },
      { names: ['--ctorigdst'], arity: 1, check: ctAddressCheck },
      { names: ['--ctorigdstport'], arity: 1, check: portCheck },
    ],
  },
  statistic: {
    options: [
      { names: ['--mode'], arity: 1, check: modeCheck },
      { names: ['--probability'], arity: 1, check: probabilityCheck },
      { names: ['--every'], arity: 1, check: countCheck },
      { names: ['--packet'], arity: 1, check: countCheck },
    ],
  },
  state: { options: [{ names: ['--state'], arity: 1, check: ctstateCheck }] },
  comment: { options: [{ names: ['--comment'], arity: 1, check: commentCheck, print: (v) => [saveString(v[0] as string)] }] },
  set: { options: [{ names: ['--match-set'], arity: 2, check: setFlagsCheck }] },
  mark: { options: [{ names: ['--mark'], arity: 1, check: markCheck }] },
  mac: { options: [{ names: ['--mac-source'], arity: 1, check: macCheck }] },
}

const TARGETS: Readonly<Record<string, TargetSpec>> = {
  DNAT: { tables: ['nat'], options: [{ names: ['--to-destination'], arity: 1, check: natRangeCheck }] },
  SNAT: { tables: ['nat'], options: [{ names: ['--to-source'], arity: 1, check: natRangeCheck }] },
  MASQUERADE: { tables: ['nat'], options: [] },
  CONNMARK: {
    options: [
      { names: ['--set-xmark'], arity: 1, check: markCheck },
      { names: ['--restore-mark'], arity: 0 },
      { names: ['--nfmask'], arity: 1, check: maskCheck },
      { names: ['--ctmask'], arity: 1, check: maskCheck },
    ],
  },
  MARK: { options: [{ names: ['--set-xmark'], arity: 1, check: markCheck }] },
  REJECT: { options: [{ names: ['--reject-with'], arity: 1, check: rejectWithCheck }] },
  SET: {
    options: [
      { names: ['--add-set'], arity: 2, check: setFlagsCheck },
      { names: ['--exist'], arity: 0 },
      { names: ['--timeout'], arity: 1, check: timeoutCheck },
    ],
  },
  LOG: { options: [{ names: ['--log-prefix'], arity: 1, print: (v) => [saveString(v[0] as string)] }] },
}

const PROTOCOLS: Readonly<Record<string, string>> = { tcp: 'tcp', '6': 'tcp', udp: 'udp', '17': 'udp', icmp: 'icmp', '1': 'icmp', all: 'all', '0': 'all' }

interface Used { name: string; spec: ModuleSpec; values: Map<OptionSpec, { neg: boolean; values: Values }> }

function address(text: string): string | undefined {
  const [ip = '', prefixText, ...rest] = text.split('/')
  const value = parseIpv4(ip)
  if (value === undefined || rest.length > 0) return undefined
  const prefix = prefixText === undefined ? 32 : /^\d{1,2}$/.test(prefixText) && Number(prefixText) <= 32 ? Number(prefixText) : NaN
  if (Number.isNaN(prefix)) return undefined
  return `${formatIpv4((value & maskOf(prefix)) >>> 0)}/${prefix}`
}

/** Pure. Parses rule arguments; `setExists` tells whether an ipset of that name exists now. */
export function parseRule(args: readonly string[], setExists: (name: string) => boolean): ParsedRule | RuleError {
  const basic = new Map<string, { neg: boolean; value: string }>()
  const matches: Used[] = []
  let target: Used | undefined
  let jump: { flag: string; name: string } | undefined
  let neg = false
  const parse = (error: string): RuleError => ({ error })
  for (let i = 0; i < args.length; i++) {
    const tok = args[i] as string
    if (tok === '!') {
      if (neg) return parse('multiple `!\' flags not allowed')
      neg = true
      continue
    }
    const value = args[i + 1]
    const basicFlag = ({ '-s': '-s', '--source': '-s', '-d': '-d', '--destination': '-d', '-i': '-i', '--in-interface': '-i',
      '-o': '-o', '--out-interface': '-o', '-p': '-p', '--protocol': '-p' } as Record<string, string>)[tok]
    if (basicFlag !== undefined) {
      if (value === undefined) return parse(`option "${tok}" requires an argument`)
      if (basic.has(basicFlag)) return parse(`multiple ${basicFlag} flags not allowed`)
      let canonical: string | undefined = value
      if (basicFlag === '-s' || basicFlag === '-d') {
        canonical = address(value)
        if (canonical === undefined) return parse(`host/network \`${value}' not found`)
      } else if (basicFlag === '-p') {
        canonical = PROTOCOLS[value.toLowerCase()]
        if (canonical === undefined) return parse(`unknown protocol "${value}" specified`)
      } else if (value.length > 15) {
        return parse(`interface name \`${value}' must be shorter than IFNAMSIZ (15)`)
      }
      basic.set(basicFlag, { neg, value: canonical })
      neg = false
      i++
      continue
    }
    if (tok === '-m' || tok === '--match') {
      if (value === undefined) return parse(`option "${tok}" requires an argument`)
      const spec = MODULES[value]
      if (spec === undefined) return parse(`Couldn't load match \`${value}':No such file or directory\n`)
      matches.push({ name: value, spec, values: new Map() })
      i++
      continue
    }
    if (tok === '-j' || tok === '--jump' || tok === '-g' || tok === '--goto') {
      if (value === undefined) return parse(`option "${tok}" requires an argument`)
      if (jump !== undefined) return parse('multiple -j flags not allowed')
      jump = { flag: tok === '-g' || tok === '--goto' ? '-g' : '-j', name: value }
      const spec = TARGETS[value]
      if (spec !== undefined) target = { name: value, spec, values: new Map() }
      i++
      continue
    }
    if (!tok.startsWith('-')) return parse(`Bad argument \`${tok}'`)
    // An option belongs to the target, else to the latest match that has it, else loads the protocol's module.
    const owns = (u: Used) => u.spec.options.find((o) => o.names.includes(tok))
    let owner = target !== undefined && owns(target) !== undefined ? target : [...matches].reverse().find((m) => owns(m) !== undefined)
    const proto = basic.get('-p')?.value
    if (owner === undefined && proto !== undefined && MODULES[proto]?.options.some((o) => o.names.includes(tok)) === true) {
      owner = { name: proto, spec: MODULES[proto] as ModuleSpec, values: new Map() }
      matches.push(owner)
    }
    const option = owner === undefined ? undefined : owns(owner)
    if (owner === undefined || option === undefined) return parse(`unknown option "${tok}"`)
    const values = args.slice(i + 1, i + 1 + option.arity)
    if (values.length < option.arity) return parse(`option "${tok}" requires an argument`)
    const checked = option.check === undefined ? values : option.check(values)
    if ('error' in checked) return parse(checked.error)
    if ((option.names[0] === '--match-set' || option.names[0] === '--add-set') && !setExists(values[0] as string)) return parse(`Set ${values[0] as string} doesn't exist.\n`)
    owner.values.set(option, { neg, values: checked })
    neg = false
    i += option.arity
  }
  if (neg) return parse('no command specified')

  const out: string[] = []
  for (const flag of ['-s', '-d', '-i', '-o', '-p']) {
    const b = basic.get(flag)
    if (b === undefined || (flag === '-p' && b.value === 'all' && !b.neg)) continue
    if (b.neg) out.push('!')
    out.push(flag, b.value)
  }
  const printUsed = (u: Used) => {
    for (const option of u.spec.options) {
      const v = u.values.get(option)
      if (v === undefined) continue
      if (v.neg) out.push('!')
      out.push(option.names[0] as string, ...(option.print === undefined ? v.values : option.print(v.values)))
    }
  }
  const sets: string[] = []
  for (const m of matches) {
    out.push('-m', m.name)
    printUsed(m)
    for (const [option, v] of m.values) if (option.names[0] === '--match-set') sets.push(v.values[0] as string)
  }
  let chainTarget: string | undefined
  if (jump !== undefined) {
    out.push(jump.flag, jump.name)
    if (target !== undefined) {
      printUsed(target)
      for (const [option, v] of target.values) if (option.names[0] === '--add-set') sets.push(v.values[0] as string)
    } else if (!VERDICTS.has(jump.name)) chainTarget = jump.name
  }
  return { text: out.join(' '), sets, chainTarget, tables: (target?.spec as TargetSpec | undefined)?.tables }
}
