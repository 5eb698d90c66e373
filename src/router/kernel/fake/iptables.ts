import { splitLine } from './args.ts'
import { parseRule } from './iptables-rule.ts'
import { failed, inputLines, ok, type LineFault, type ToolOutcome } from './outcome.ts'

/**
 * iptables (nf_tables backend, v1.8.9) in memory: tables of chains with policies and rules.
 *
 * iptables-restore as the real tool behaves, recorded in a namespace:
 * - each `*table … COMMIT` block is one transaction: a failing block leaves its table as it
 *   was, while blocks committed before it stay in force;
 * - without `--noflush` a block replaces its whole table; with it, a declared user chain that
 *   exists is flushed, a declared built-in chain only takes the policy;
 * - three error shapes, each with its exit code: a line the parser refuses (exit 2, "Error
 *   occurred at line: N"), a line the rule cache refuses (exit 1, "line N failed: …"), and a
 *   batch the kernel refuses at COMMIT (exit 4, "line N: RULE_APPEND failed (…): …");
 * - a jump to a chain that does not exist is found at COMMIT (its line is reported), a set
 *   match naming an ipset that does not exist while parsing;
 * - the kernel refuses to delete a chain that still has rules or is jumped to, and a NAT
 *   target outside the nat table.
 * iptables-save prints the tables that exist in the fixed order mangle, security, raw, filter,
 * nat, built-in chains first, then user chains sorted by name; rules normalized as
 * iptables-rule.ts describes; counters are always zero.
 */

const PROGRAM = 'iptables-restore'
const VERSION = 'v1.8.9 (nf_tables)'
const SAVE_ORDER = ['mangle', 'security', 'raw', 'filter', 'nat'] as const
const BUILTINS: Readonly<Record<string, readonly string[]>> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
}
/** iptables-nft refuses chain names of 29 characters or more. */
const MAX_CHAIN_NAME = 28

interface Rule { text: string; sets: readonly string[]; chainTarget: string | undefined }
interface Chain { policy: 'ACCEPT' | 'DROP' | undefined; rules: Rule[] }
type Table = Map<string, Chain>

/** One table as tests read it: chain → policy (null for user chains) and rules as iptables-save prints them. */
export type IptablesView = Record<string, Record<string, { policy: string | null; rules: string[] }>>

/** A refusal with the real tool's shape (see the module comment). */
type Refusal =
  | { kind: 'parse'; line: number; message: string }
  | { kind: 'line'; line: number; message: string }
  | { kind: 'kernel'; line: number; op: string; reason: string; object: string }
  | { kind: 'commit-expected'; line: number }

function freshTable(name: string): Table {
  return new Map((BUILTINS[name] ?? []).map((chain) => [chain, { policy: 'ACCEPT' as const, rules: [] }]))
}

function cloneTable(table: Table): Table {
  return new Map([...table].map(([name, c]) => [name, { policy: c.policy, rules: [...c.rules] }]))
}

function refusalOutcome(r: Refusal): ToolOutcome {
  switch (r.kind) {
    case 'parse':
      return failed(2, `${PROGRAM} ${VERSION}: ${r.message}\nError occurred at line: ${r.line}\nTry \`${PROGRAM} -h' or '${PROGRAM} --help' for more information.\n`)
    case 'line':
      return failed(1, `${PROGRAM}: line ${r.line} failed: ${r.message}.\n`)
    case 'kernel':
      return failed(4, `${PROGRAM} ${VERSION}: \nline ${r.line}: ${r.op} failed (${r.reason}): ${r.object}\n`)
    case 'commit-expected':
      return failed(1, `${PROGRAM}: COMMIT expected at line ${r.line}\n`)
  }
}

/** ctime(3) text, as iptables-save stamps its output. */
function ctime(d: Date): string {
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()] as string
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()] as string
  const time = [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()].map((n) => String(n).padStart(2, '0')).join(':')
  return `${day} ${month} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`
}

export class FakeIptables {
  private readonly tables = new Map<string, Table>()

  constructor(private readonly setExists: (name: string) => boolean, private readonly now: () => Date) {}

  /** Whether a committed rule names the ipset (the kernel then refuses to destroy it). */
  referencesSet(name: string): boolean {
    for (const table of this.tables.values()) {
      for (const chain of table.values()) if (chain.rules.some((r) => r.sets.includes(name))) return true
    }
    return false
  }

  view(): Record<string, IptablesView[string]> {
    const out: Record<string, IptablesView[string]> = {}
    for (const name of SAVE_ORDER) {
      const table = this.tables.get(name)
      if (table === undefined) continue
      const chains: IptablesView[string] = {}
      for (const chain of this.chainOrder(name, table)) {
        const c = table.get(chain) as Chain
        chains[chain] = { policy: c.policy ?? null, rules: c.rules.map((r) => r.text) }
      }
      out[name] = chains
    }
    return out
  }

  /** `iptables-save [-c] [-t table]`. */
  save(args: readonly string[]): ToolOutcome {
    let counters = false
    let only: string | undefined
    for (let i = 0; i < args.length; i++) {
      const a = args[i]
      if (a === '-c' || a === '--counters') counters = true
      else if ((a === '-t' || a === '--table') && args[i + 1] !== undefined) only = args[++i]
      else return failed(1, `iptables-save ${VERSION}: unknown option "${a ?? ''}"\n`)
    }
    if (only !== undefined && BUILTINS[only] === undefined) return failed(1, `iptables-save ${VERSION}: table '${only}' does not exist\n`)
    const names = only === undefined ? SAVE_ORDER.filter((t) => this.tables.has(t)) : [only]
    if (names.length === 0) return ok('')
    const stamp = ctime(this.now())
    const out = [`# Generated by iptables-save ${VERSION} on ${stamp}`]
    for (const name of names) {
      // `-t` of a table that does not exist prints its built-in chains (and does not create it).
      const table = this.tables.get(name) ?? freshTable(name)
      out.push(`*${name}`)
      const order = this.chainOrder(name, table)
      for (const chain of order) out.push(`:${chain} ${table.get(chain)?.policy ?? '-'} [0:0]`)
      for (const chain of order) for (const r of (table.get(chain) as Chain).rules) out.push(`${counters ? '[0:0] ' : ''}-A ${chain} ${r.text}`)
      out.push('COMMIT')
    }
    out.push(`# Completed on ${stamp}`)
    return ok(out.join('\n') + '\n')
  }

  /** `iptables-restore [-w s] [--noflush] [--test] [-c]` of `stdin`. */
  restore(args: readonly string[], stdin: string, fault: LineFault | undefined, faultShape: 'parse' | 'kernel'): ToolOutcome {
    let noflush = false
    let test = false
    for (let i = 0; i < args.length; i++) {
      const a = args[i]
      if (a === '-n' || a === '--noflush') noflush = true
      else if (a === '-t' || a === '--test') test = true
      else if (a === '-w' || a === '--wait' || a === '-W' || a === '--wait-interval') { if (/^\d+$/.test(args[i + 1] ?? '')) i++ }
      else if (a === '-c' || a === '--counters' || a === '-v' || a === '--verbose') continue
      else return failed(2, `${PROGRAM} ${VERSION}: unknown option "${a ?? ''}"\n`)
    }
    const lines = inputLines(stdin)
    /** An injected fault fails one line: the first it picks. */
    let faulted = false
    let open: { name: string; work: Table; deferred: Refusal | undefined } | undefined
    for (let i = 0; i < lines.length; i++) {
      const n = i + 1
      const text = lines[i] as string
      const line = text.trim()
      if (line === '' || line.startsWith('#')) continue
      if (fault?.matches(n, text) === true && !faulted) {
        faulted = true
        fault.fired()
        const reason = fault.message ?? 'Cannot allocate memory'
        if (faultShape === 'parse') return refusalOutcome({ kind: 'parse', line: n, message: reason })
        if (open === undefined) return refusalOutcome({ kind: 'kernel', line: n, op: 'TABLE_ADD', reason, object: 'table' })
        open.deferred ??= { kind: 'kernel', line: n, ...kernelOp(line), reason }
        continue
      }
      if (line.startsWith('*')) {
        const name = line.slice(1)
        if (open !== undefined) return refusalOutcome({ kind: 'commit-expected', line: n })
        if (BUILTINS[name] === undefined) return refusalOutcome({ kind: 'parse', line: n, message: `can't initialize iptables table \`${name}': Table does not exist (do you need to insmod?)` })
        const existing = this.tables.get(name)
        open = { name, work: noflush && existing !== undefined ? cloneTable(existing) : freshTable(name), deferred: undefined }
        continue
      }
      if (open === undefined) return refusalOutcome({ kind: 'parse', line: n, message: 'no command specified' })
      if (line === 'COMMIT') {
        const missing = missingJumpTarget(open.work)
        if (missing !== undefined) return refusalOutcome({ kind: 'parse', line: n, message: `Chain '${missing}' does not exist` })
        if (open.deferred !== undefined) return refusalOutcome(open.deferred)
        if (!test) this.tables.set(open.name, open.work)
        open = undefined
        continue
      }
      const refusal = line.startsWith(':') ? declare(open.work, line, n) : this.command(open, line, n)
      if (refusal === undefined) continue
      if (refusal.kind === 'kernel') open.deferred ??= refusal
      else return refusalOutcome(refusal)
    }
    if (open !== undefined) return refusalOutcome({ kind: 'commit-expected', line: lines.length + 1 })
    return ok()
  }

  private chainOrder(name: string, table: Table): string[] {
    const builtins = (BUILTINS[name] ?? []).filter((c) => table.has(c))
    return [...builtins, ...[...table.keys()].filter((c) => !builtins.includes(c)).sort()]
  }

  private command(open: { name: string; work: Table }, line: string, n: number): Refusal | undefined {
    const args = splitLine(line)
    if (args === undefined) return { kind: 'parse', line: n, message: 'unterminated quoted string' }
    const [cmd, chainName, ...rest] = args
    const table = open.work
    const chain = chainName === undefined ? undefined : table.get(chainName)
    const noChain: Refusal = { kind: 'line', line: n, message: 'No chain/target/match by that name' }
    switch (cmd) {
      case '-A': case '--append':
      case '-I': case '--insert': {
        if (chainName === undefined) return { kind: 'parse', line: n, message: `option "${cmd}" requires an argument` }
        if (chain === undefined) return noChain
        const insert = cmd === '-I' || cmd === '--insert'
        let at = insert ? 0 : chain.rules.length
        let ruleArgs = rest
        if (insert && /^\d+$/.test(rest[0] ?? '')) {
          at = Number(rest[0]) - 1
          ruleArgs = rest.slice(1)
          if (at < 0 || at > chain.rules.length) return { kind: 'line', line: n, message: 'Index of insertion too big' }
        }
        const parsed = parseRule(ruleArgs, this.setExists)
        if ('error' in parsed) return { kind: 'parse', line: n, message: parsed.error }
        chain.rules.splice(at, 0, { text: parsed.text, sets: parsed.sets, chainTarget: parsed.chainTarget })
        if (parsed.tables !== undefined && !parsed.tables.includes(open.name)) {
          return { kind: 'kernel', line: n, op: insert ? 'RULE_INSERT' : 'RULE_APPEND', reason: 'Invalid argument', object: `rule in chain ${chainName}` }
        }
        return undefined
      }
      case '-D': case '--delete': {
        if (chain === undefined) return noChain
        if (rest.length === 1 && /^\d+$/.test(rest[0] as string)) {
          const index = Number(rest[0]) - 1
          if (index < 0 || index >= chain.rules.length) return { kind: 'line', line: n, message: 'Index of deletion too big' }
          chain.rules.splice(index, 1)
          return undefined
        }
        const parsed = parseRule(rest, this.setExists)
        if ('error' in parsed) return { kind: 'parse', line: n, message: parsed.error }
        const index = chain.rules.findIndex((r) => r.text === parsed.text)
        if (index === -1) return { kind: 'line', line: n, message: 'Bad rule (does a matching rule exist in that chain?)' }
        chain.rules.splice(index, 1)
        return undefined
      }
      case '-F': case '--flush': {
        if (chainName === undefined) { for (const c of table.values()) c.rules = []; return undefined }
        if (chain === undefined) return noChain
        chain.rules = []
        return undefined
      }
      case '-N': case '--new-chain': {
        if (chainName === undefined) return { kind: 'parse', line: n, message: `option "${cmd}" requires an argument` }
        if (chainName.length > MAX_CHAIN_NAME) return { kind: 'parse', line: n, message: `chain name \`${chainName}' too long (must be under 29 chars)` }
        if (chain !== undefined) return { kind: 'line', line: n, message: 'Chain already exists' }
        table.set(chainName, { policy: undefined, rules: [] })
        return undefined
      }
      case '-X': case '--delete-chain': {
        const names = chainName === undefined ? [...table.keys()].filter((c) => table.get(c)?.policy === undefined) : [chainName]
        for (const name of names) {
          const c = table.get(name)
          if (c === undefined) return noChain
          if (c.policy !== undefined) return { kind: 'line', line: n, message: 'Cannot delete built-in chain' }
          const jumpedTo = [...table.values()].some((other) => other.rules.some((r) => r.chainTarget === name))
          if (jumpedTo || c.rules.length > 0) return { kind: 'kernel', line: n, op: 'CHAIN_DEL', reason: 'Device or resource busy', object: `chain ${name}` }
          table.delete(name)
        }
        return undefined
      }
      case '-P': case '--policy': {
        if (chain === undefined) return noChain
        const policy = rest[0]
        if (chain.policy === undefined || (policy !== 'ACCEPT' && policy !== 'DROP')) return { kind: 'line', line: n, message: 'Bad policy name' }
        chain.policy = policy
        return undefined
      }
      case '-Z': case '--zero':
        return undefined
      default:
        return { kind: 'parse', line: n, message: `unknown option "${cmd ?? ''}"` }
    }
  }
}

/** A `:CHAIN POLICY [p:b]` line: sets a built-in chain's policy, creates or (with --noflush) flushes a user chain. */
function declare(table: Table, line: string, n: number): Refusal | undefined {
  const [name = '', policy = ''] = line.slice(1).split(/\s+/)
  if (name.length > MAX_CHAIN_NAME) return { kind: 'parse', line: n, message: `chain name \`${name}' too long (must be under 29 chars)` }
  const chain = table.get(name)
  if (chain !== undefined && chain.policy !== undefined) {
    if (policy !== 'ACCEPT' && policy !== 'DROP') return { kind: 'line', line: n, message: 'Bad policy name' }
    chain.policy = policy
    return undefined
  }
  if (policy !== '-') return { kind: 'line', line: n, message: 'Bad built-in chain name' }
  if (chain !== undefined) chain.rules = []
  else table.set(name, { policy: undefined, rules: [] })
  return undefined
}

/** A chain some rule jumps to that the table lacks (iptables-nft finds it when it commits). */
function missingJumpTarget(table: Table): string | undefined {
  for (const chain of table.values()) {
    for (const r of chain.rules) if (r.chainTarget !== undefined && !table.has(r.chainTarget)) return r.chainTarget
  }
  return undefined
}

/** The batch operation a line becomes, as iptables-nft names it in a kernel error. */
function kernelOp(line: string): { op: string; object: string } {
  const args = splitLine(line) ?? []
  const chain = args[1] ?? ''
  if (line.startsWith(':')) return { op: 'CHAIN_USER_ADD', object: `chain ${line.slice(1).split(/\s+/)[0] ?? ''}` }
  switch (args[0]) {
    case '-A': return { op: 'RULE_APPEND', object: `rule in chain ${chain}` }
    case '-I': return { op: 'RULE_INSERT', object: `rule in chain ${chain}` }
    case '-D': return { op: 'RULE_DELETE', object: `rule in chain ${chain}` }
    case '-X': return { op: 'CHAIN_DEL', object: `chain ${chain}` }
    case '-F': return { op: 'RULE_FLUSH', object: `chain ${chain}` }
    default: return { op: 'TABLE_FLUSH', object: 'table' }
  }
}
