import { CommandFailedError, CommandTimeoutError } from '../../../core/errors.ts'
import type { RunOptions, RunResult, Runner } from '../../../core/exec.ts'
import { Faults, type FakeCallInput, type FaultHandle, type FaultSpec } from './faults.ts'
import { FakeIp } from './ip.ts'
import { FakeIpset, type IpsetView } from './ipset.ts'
import { FakeIptables, type IptablesView } from './iptables.ts'
import { formatIpv4 } from '../../../core/ipv4.ts'
import { formatPrefix, NetState, tableName, type FakeLinkSpec } from './net-state.ts'
import { failed, ok, type LineFault, type ToolOutcome } from './outcome.ts'

/**
 * An in-memory kernel behind the `Runner` interface: the engine runs iptables-save/-restore,
 * ipset, ip, sysctl and conntrack against it as against a network namespace, without root,
 * processes or files. Each call runs atomically when it is made and answers on a later turn
 * of the event loop, like a process would; a failing call rejects with the CommandFailedError
 * (absolute tool path, argv, exit code, stderr) core/exec.ts would throw.
 *
 * Tests read the state (`state()`, compared whole before and after an edit), the call log
 * (`calls`), and inject failures (`fail()`, see faults.ts). Links are given at construction
 * (or plugged in later with `addLink`), as a host's NICs are.
 */

/** One call as the fake saw it. */
export interface FakeCall extends FakeCallInput { exitCode: number; stderr: string }

/** The whole kernel state as plain data, for `toEqual` before/after comparisons. */
export interface FakeKernelState {
  iptables: Record<string, IptablesView[string]>
  ipsets: Record<string, IpsetView>
  links: { name: string; mac: string; mtu: number; up: boolean }[]
  addresses: { dev: string; cidr: string; secondary: boolean }[]
  routes: { table: string; dst: string; via?: string; dev: string; protocol: number }[]
  rules: { priority: number; from?: string; fwmark?: string; table: string; suppressPrefixLength?: number; protocol: number }[]
  sysctl: Record<string, string>
}

export interface FakeKernelOptions {
  /** The host's links besides `lo` (added first, up). */
  links?: readonly FakeLinkSpec[]
  /** net.ipv4.conf.*.promote_secondaries (default 0, the kernel's default). */
  promoteSecondaries?: boolean
  /** The clock iptables-save stamps its output with. */
  now?: () => Date
}

const TOOLS = new Set(['iptables-save', 'iptables-restore', 'ipset', 'ip', 'sysctl', 'conntrack'])

export class FakeKernel implements Runner {
  readonly netns = undefined
  /** Every call, in the order made. */
  readonly calls: FakeCall[] = []
  readonly net: NetState
  private readonly ip: FakeIp
  private readonly ipset: FakeIpset
  private readonly iptables: FakeIptables
  private readonly sysctl = new Map<string, string>()
  private readonly faults = new Faults()

  constructor(options: FakeKernelOptions = {}) {
    // As the kernel: conf.all or the link's own setting (one NetState for every link: all is what routerd sets).
    this.net = new NetState(() => (options.promoteSecondaries ?? false) || this.sysctl.get('net.ipv4.conf.all.promote_secondaries') === '1')
    this.net.addLink({ name: 'lo', type: 'loopback', up: true, ifindex: 1 })
    for (const link of options.links ?? []) this.net.addLink(link)
    this.ip = new FakeIp(this.net)
    this.iptables = new FakeIptables((name) => this.ipset.has(name), options.now ?? (() => new Date()))
    this.ipset = new FakeIpset((name) => this.iptables.referencesSet(name))
  }

  /** Plugs in a link (a NIC hot-added to the VM). */
  addLink(spec: FakeLinkSpec): void {
    this.net.addLink(spec)
  }

  /** Makes calls fail as the real tool would (see FaultSpec); the handle counts how often it fired. */
  fail(spec: FaultSpec): FaultHandle {
    return this.faults.add(spec)
  }

  clearFaults(): void {
    this.faults.clear()
  }

  /** Calls of one tool (e.g. `callsOf('ipset')`), in order. */
  callsOf(tool: string): FakeCall[] {
    return this.calls.filter((c) => c.tool === tool)
  }

  state(): FakeKernelState {
    const ipsets = this.ipset.view()
    return {
      iptables: this.iptables.view(),
      ipsets,
      links: this.net.links.map((l) => ({ name: l.name, mac: l.mac, mtu: l.mtu, up: l.up })),
      addresses: this.net.addresses.map((a) => ({ dev: a.dev, cidr: `${formatIpv4(a.address)}/${a.prefix}`, secondary: a.secondary })),
      routes: this.net.routes.map((r) => ({
        table: tableName(r.table), dst: formatPrefix(r.dst), ...(r.gateway === undefined ? {} : { via: formatIpv4(r.gateway) }), dev: r.dev, protocol: r.protocol,
      })).sort((a, b) => (`${a.table} ${a.dst}` < `${b.table} ${b.dst}` ? -1 : 1)),
      rules: this.net.rules.map((r) => ({
        priority: r.priority, ...(r.src === undefined ? {} : { from: formatPrefix(r.src) }),
        ...(r.fwmark === undefined ? {} : { fwmark: `0x${r.fwmark.toString(16)}/0x${(r.fwmask ?? 0xffffffff).toString(16)}` }),
        table: tableName(r.table), ...(r.suppress === undefined ? {} : { suppressPrefixLength: r.suppress }), protocol: r.protocol,
      })),
      sysctl: Object.fromEntries([...this.sysctl].sort(([a], [b]) => (a < b ? -1 : 1))),
    }
  }

  /** What `iptables-save` prints now (no call is logged). */
  iptablesSave(): string {
    return this.iptables.save([]).stdout
  }

  /** What `ipset save` prints now (no call is logged). */
  ipsetSave(): string {
    return this.ipset.run(['save'], '', undefined).stdout
  }

  async run(name: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const stdin = options.stdin ?? ''
    const input: FakeCallInput = { tool: name, args: [...args], stdin }
    const plan = this.faults.plan(input)
    let outcome: ToolOutcome
    if (plan.kind === 'timeout') {
      this.calls.push({ ...input, exitCode: -1, stderr: '' })
      await new Promise((resolve) => setImmediate(resolve))
      throw new CommandTimeoutError(`/usr/sbin/${name}`, options.timeoutMs ?? 60_000)
    }
    if (plan.kind === 'call') outcome = failed(plan.exitCode, plan.stderr)
    else outcome = this.dispatch(name, args, stdin, plan.kind === 'line' ? plan : undefined)
    this.calls.push({ ...input, exitCode: outcome.exitCode, stderr: outcome.stderr })
    // A process answers later: let whatever the caller started alongside run first.
    await new Promise((resolve) => setImmediate(resolve))
    if (!(options.okCodes ?? [0]).includes(outcome.exitCode)) throw new CommandFailedError(`/usr/sbin/${name}`, args, outcome.exitCode, outcome.stderr)
    return outcome
  }

  private dispatch(name: string, args: readonly string[], stdin: string, line: { fault: LineFault; shape: 'parse' | 'kernel' | undefined } | undefined): ToolOutcome {
    if (!TOOLS.has(name)) return failed(127, `fake kernel: no tool ${name}\n`)
    switch (name) {
      case 'iptables-save': return this.iptables.save(args)
      case 'iptables-restore': return this.iptables.restore(args, stdin, line?.fault, line?.shape ?? 'parse')
      case 'ipset': return this.ipset.run(args, stdin, line?.fault, line?.shape ?? 'kernel')
      case 'ip': return this.ip.run(args, stdin, line?.fault)
      case 'sysctl': return this.runSysctl(args)
      default: return this.runConntrack(args)
    }
  }

  /** `sysctl [-q] -w key=value…`: recorded; reads answer what was written. */
  private runSysctl(args: readonly string[]): ToolOutcome {
    const writes = args.filter((a) => a !== '-q' && a !== '-w')
    if (!args.includes('-w')) return ok(writes.map((k) => `${k} = ${this.sysctl.get(k) ?? '0'}\n`).join(''))
    for (const w of writes) {
      const eq = w.indexOf('=')
      if (eq <= 0) return failed(255, `sysctl: "${w}" must be of the form name=value\n`)
      this.sysctl.set(w.slice(0, eq), w.slice(eq + 1))
    }
    return ok()
  }

  /** `conntrack -D …`: the fake tracks no connections, so it answers as the real tool does when none match. */
  private runConntrack(args: readonly string[]): ToolOutcome {
    if (args[0] === '-D' || args[0] === '--delete') return failed(1, 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n')
    return ok()
  }
}
