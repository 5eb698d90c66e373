import { splitLine } from './args.ts'
import { parseMember } from './ipset-member.ts'
import { failed, inputLines, ok, type LineFault, type ToolOutcome } from './outcome.ts'

/**
 * ipset in memory: sets with a type, create options and members, in kernel index order.
 *
 * `ipset restore` as the real tool (7.17) behaves, recorded in a namespace: consecutive add
 * (or del) lines for one set are buffered into one netlink message, sent when another command
 * or set comes, or at the end. So where a batch stops depends on who refuses the line:
 * - the kernel (element already added / not added, hash full, a bad CIDR length, a set that
 *   exists or is in use): the lines before it took effect, those of its own message included;
 * - ipset itself while parsing (syntax, an add/del naming a set that does not exist): the
 *   buffered lines of the current set before it are dropped with it; only lines sent earlier
 *   took effect.
 * Errors read "ipset v7.17: Error in line N: …" (exit 1); an unknown command stops the batch
 * with a usage error (exit 2, no line). A set some iptables rule names cannot be destroyed. A
 * swap exchanges contents, type and options between two names; rules keep following the names
 * (the kernel swaps the sets' reference counts along with their names).
 */

const VERSION = 'ipset v7.17'
const TYPES = new Set(['hash:net', 'hash:ip', 'hash:ip,port'])

export interface FakeSet {
  name: string
  type: string
  hashsize: number
  maxelem: number
  /** The default timeout of members (seconds), when the set was created with one. */
  timeout?: number
  /** Members in the form `ipset save` prints them, in insertion order. */
  members: string[]
}

/** A set as tests read it: members sorted (the kernel's own order is its hash order). */
export interface IpsetView { type: string; options: string; members: string[] }

/** A refusal: by ipset while parsing (drops the buffered lines) or by the kernel. */
class IpsetError extends Error {
  constructor(message: string, readonly origin: 'parse' | 'kernel') {
    super(message)
  }
}

/** An unknown command: ipset prints its usage hint and exits 2, without a line number. */
class UsageError extends Error {}

type Command =
  | { cmd: 'add' | 'del'; set: FakeSet; entries: string[] }
  | { cmd: 'create'; set: FakeSet }
  | { cmd: 'destroy' | 'flush'; name: string | undefined }
  | { cmd: 'swap'; from: string | undefined; to: string | undefined }

const parseError = (message: string) => new IpsetError(message, 'parse')
const kernelError = (message: string) => new IpsetError(message, 'kernel')

export class FakeIpset {
  /** Kernel index → set; a destroyed set leaves a hole the next create fills, as in the kernel. */
  private readonly slots: (FakeSet | undefined)[] = []

  private exist = false

  /** `inUse(name)`: whether an iptables rule references the set (the kernel's reference count). */
  constructor(private readonly inUse: (name: string) => boolean) {}

  has(name: string): boolean {
    return this.find(name) !== undefined
  }

  /** Every set by name, members sorted. */
  view(): Record<string, IpsetView> {
    const out: Record<string, IpsetView> = {}
    for (const s of this.sets()) out[s.name] = { type: s.type, options: options(s), members: [...s.members].sort() }
    return out
  }

  /** Runs `ipset <args>` with `stdin`; `shape` says how an injected line fault fails (see FaultSpec). */
  run(allArgs: readonly string[], stdin: string, fault: LineFault | undefined, shape: 'parse' | 'kernel' = 'kernel'): ToolOutcome {
    // -exist: an identical set created again, an entry added again or a missing entry deleted is no error.
    this.exist = allArgs[0] === '-exist'
    const args = this.exist ? allArgs.slice(1) : allArgs
    const [command, ...rest] = args
    if (command === 'save' && rest.length === 0) return ok(this.save())
    if (command === 'list' && rest.length === 1 && rest[0] === '-n') return ok(this.sets().map((s) => `${s.name}\n`).join(''))
    if (command === 'restore' && rest.length === 0) return this.restore(stdin, fault, shape)
    try {
      const parsed = this.parse(args)
      if ('entries' in parsed) for (const e of parsed.entries) this.applyEntry(parsed.cmd, parsed.set, e)
      else this.applyNow(parsed)
      return ok()
    } catch (err) {
      if (err instanceof UsageError) return failed(2, `${VERSION}: ${err.message}\nTry \`ipset help' for more information.\n`)
      if (err instanceof IpsetError) return failed(1, `${VERSION}: ${err.message}\n`)
      throw err
    }
  }

  private sets(): FakeSet[] {
    return this.slots.filter((s): s is FakeSet => s !== undefined)
  }

  private find(name: string): FakeSet | undefined {
    return this.slots.find((s) => s?.name === name)
  }

  private save(): string {
    return this.sets().map((s) => [`create ${s.name} ${s.type} ${options(s)} bucketsize 12 initval ${initval(s.name)}\n`,
      ...s.members.map((m) => `add ${s.name} ${m}\n`)].join('')).join('')
  }

  private restore(stdin: string, fault: LineFault | undefined, shape: 'parse' | 'kernel'): ToolOutcome {
    const lines = inputLines(stdin)
    /** The add/del lines of one set not yet sent to the kernel. */
    let pending: { cmd: 'add' | 'del'; set: FakeSet; lines: { n: number; entries: string[] }[] } | undefined
    const send = (): void => {
      const batch = pending
      pending = undefined
      for (const { n, entries } of batch?.lines ?? []) {
        try {
          for (const e of entries) this.applyEntry((batch as NonNullable<typeof batch>).cmd, (batch as NonNullable<typeof batch>).set, e)
        } catch (err) {
          if (err instanceof IpsetError) throw Object.assign(err, { line: n })
          throw err
        }
      }
    }
    try {
      for (let i = 0; i < lines.length; i++) {
        const n = i + 1
        const text = lines[i] as string
        const trimmed = text.trim()
        if (trimmed === '' || trimmed.startsWith('#')) continue
        try {
          if (fault?.matches(n, text) === true) {
            fault.fired()
            if (shape === 'parse') throw parseError(`Syntax error: ${fault.message ?? 'cannot parse the line'}`)
            send()
            throw kernelError(`Kernel error received: ${fault.message ?? 'Cannot allocate memory'}`)
          }
          const args = splitLine(trimmed)
          if (args === undefined) throw parseError('Syntax error: unterminated quoted string')
          if (args[0] === 'COMMIT') continue
          const parsed = this.parse(args)
          if ('entries' in parsed) {
            if (pending !== undefined && (pending.cmd !== parsed.cmd || pending.set !== parsed.set)) send()
            pending ??= { cmd: parsed.cmd, set: parsed.set, lines: [] }
            pending.lines.push({ n, entries: parsed.entries })
          } else {
            send()
            this.applyNow(parsed)
          }
        } catch (err) {
          if (err instanceof IpsetError && (err as { line?: number }).line === undefined) Object.assign(err, { line: n })
          throw err
        }
      }
      send()
      return ok()
    } catch (err) {
      if (err instanceof UsageError) return failed(2, `${VERSION}: ${err.message}\nTry \`ipset help' for more information.\n`)
      if (err instanceof IpsetError) return failed(1, `${VERSION}: Error in line ${(err as { line?: number }).line ?? 0}: ${err.message}\n`)
      throw err
    }
  }

  /** What ipset checks before anything reaches the kernel: syntax, and that an add/del names an existing set. */
  private parse(args: readonly string[]): Command {
    const [command, name, ...rest] = args
    switch (command) {
      case 'create': return { cmd: 'create', set: newSet(need(name), rest) }
      case 'add': case 'del': {
        const set = name === undefined ? undefined : this.find(name)
        if (set === undefined) throw parseError('The set with the given name does not exist')
        if (rest.length !== 1) throw parseError(rest.length === 0 ? 'Syntax error: missing element' : `Syntax error: Unknown argument: '${rest[1] ?? ''}'`)
        const parsed = parseMember(set.type, rest[0] as string)
        if ('error' in parsed) throw parseError(parsed.error)
        return { cmd: command, set, entries: parsed.entries }
      }
      case 'destroy': case 'flush': return { cmd: command, name }
      case 'swap': return { cmd: 'swap', from: name, to: rest[0] }
      case undefined: throw new UsageError('No command specified.')
      default: throw new UsageError(`No command specified: unknown argument ${command}`)
    }
  }

  private applyNow(c: Exclude<Command, { cmd: 'add' | 'del' }>): void {
    switch (c.cmd) {
      case 'create': {
        const same = this.find(c.set.name)
        if (same !== undefined && this.exist && same.type === c.set.type && options(same) === options(c.set)) return
        if (same !== undefined) throw kernelError('Set cannot be created: set with the same name already exists')
        const hole = this.slots.indexOf(undefined)
        if (hole === -1) this.slots.push(c.set)
        else this.slots[hole] = c.set
        return
      }
      case 'destroy': {
        const targets = c.name === undefined ? this.sets() : [this.existing(c.name)]
        if (targets.some((s) => this.inUse(s.name))) throw kernelError('Set cannot be destroyed: it is in use by a kernel component')
        for (const s of targets) this.slots[this.slots.indexOf(s)] = undefined
        return
      }
      case 'flush':
        for (const s of c.name === undefined ? this.sets() : [this.existing(c.name)]) s.members = []
        return
      case 'swap': {
        const from = this.existing(c.from ?? '')
        const to = c.to === undefined ? undefined : this.find(c.to)
        if (to === undefined) throw kernelError('Sets cannot be swapped: the second set does not exist')
        if (from.type !== to.type) throw kernelError('The sets cannot be swapped: their type does not match')
        const { type, hashsize, maxelem, timeout, members } = from
        Object.assign(from, { type: to.type, hashsize: to.hashsize, maxelem: to.maxelem, timeout: to.timeout, members: to.members })
        Object.assign(to, { type, hashsize, maxelem, timeout, members })
      }
    }
  }

  private existing(name: string): FakeSet {
    const set = this.find(name)
    if (set === undefined) throw kernelError('The set with the given name does not exist')
    return set
  }

  /** The kernel's part of an add or del of one entry. */
  private applyEntry(cmd: 'add' | 'del', set: FakeSet, entry: string): void {
    if (entry.endsWith('/0')) throw kernelError('The value of the CIDR parameter of the IP address is invalid')
    const at = set.members.indexOf(entry)
    if (cmd === 'del') {
      if (at === -1 && this.exist) return
      if (at === -1) throw kernelError("Element cannot be deleted from the set: it's not added")
      set.members.splice(at, 1)
      return
    }
    if (at !== -1 && this.exist) return
    if (at !== -1) throw kernelError("Element cannot be added to the set: it's already added")
    if (set.members.length >= set.maxelem) throw kernelError('Hash is full, cannot add more elements')
    set.members.push(entry)
  }
}

/** Parses `create` arguments (ipset's own checks: name length, type, options). */
function newSet(name: string, rest: readonly string[]): FakeSet {
  if (name.length > 31) throw parseError(`Syntax error: setname '${name}' is longer than 31 characters`)
  const [type, ...opts] = rest
  if (type === undefined || !TYPES.has(type)) throw parseError(`Syntax error: typename '${type ?? ''}' is unknown`)
  const set: FakeSet = { name, type, hashsize: 1024, maxelem: 65536, members: [] }
  for (let i = 0; i < opts.length; i += 2) {
    const [key, value] = [opts[i], opts[i + 1]]
    const n = Number(value)
    if (key === 'family' && value === 'inet') continue
    if ((key === 'hashsize' || key === 'maxelem' || key === 'bucketsize') && Number.isSafeInteger(n) && n > 0) {
      if (key === 'hashsize') set.hashsize = 2 ** Math.ceil(Math.log2(Math.max(64, n)))
      if (key === 'maxelem') set.maxelem = n
      continue
    }
    if (key === 'timeout' && Number.isSafeInteger(n) && n >= 0 && n <= 2147483) {
      set.timeout = n
      continue
    }
    throw parseError(`Syntax error: Unknown argument: '${key ?? ''}'`)
  }
  return set
}

function need(name: string | undefined): string {
  if (name === undefined) throw parseError('Syntax error: missing setname')
  return name
}

function options(s: FakeSet): string {
  return `family inet hashsize ${s.hashsize} maxelem ${s.maxelem}${s.timeout === undefined ? '' : ` timeout ${s.timeout}`}`
}

/** A per-name hash seed, fixed so the fake's output is reproducible (the kernel's is random). */
function initval(name: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0
  return `0x${h.toString(16).padStart(8, '0')}`
}
