import type { LineFault } from './outcome.ts'

/**
 * Failure injection for the fake kernel. A fault picks calls of one tool (the nth from when it
 * was added, or those a predicate accepts, or both: the nth the predicate accepts) and makes
 * them fail the way the real tool does:
 * - with `line`, a batch (iptables-restore, ipset restore, ip -batch) fails at that input line
 *   and the tool's own semantics decide what took effect before it (ipset and ip: the lines
 *   before it; iptables-restore: the tables committed before the one holding it);
 * - without, the call fails before doing anything (a crashed or missing tool), or times out.
 */

export type FakeTool = 'iptables-save' | 'iptables-restore' | 'ipset' | 'ip' | 'sysctl' | 'conntrack'

export interface FakeCallInput { tool: string; args: readonly string[]; stdin: string }

export interface FaultSpec {
  tool: FakeTool
  /** Fires on the nth call (1 = the next one) of `tool` that `when` accepts (every call if no `when`). */
  call?: number
  when?: (call: FakeCallInput) => boolean
  /** The failing input line: its 1-based number, or the first line whose text matches. */
  line?: number | RegExp
  /** The kernel's reason for a line failure (default: "Cannot allocate memory", an error any line can meet). */
  message?: string
  /**
   * Who refuses the line, which decides what took effect before it.
   * iptables-restore: 'parse' (default), the parser (exit 2, "Error occurred at line: N");
   * 'kernel', the kernel refuses the table's batch at COMMIT (exit 4, "line N: RULE_APPEND
   * failed (…)"); either way nothing of the line's table is applied.
   * ipset restore: 'kernel' (default), every line before it took effect; 'parse', ipset itself
   * refuses it, and the add/del lines of the same set buffered just before it are dropped too.
   */
  shape?: 'parse' | 'kernel'
  /** Without `line`: the exit code (default 1) and stderr of the failed call. */
  exitCode?: number
  stderr?: string
  /** Without `line`: the call never answers; the runner throws ERR_COMMAND_TIMEOUT as exec.ts does. */
  timeout?: boolean
  /** Calls it fires on before it is spent (default 1). */
  times?: number
}

/** A fault as registered: how often it fired (a test asserts this, so an unmet fault is not mistaken for a pass). */
export interface FaultHandle {
  readonly spec: FaultSpec
  readonly fired: number
}

class Fault implements FaultHandle {
  fired = 0
  private seen = 0
  constructor(readonly spec: FaultSpec) {}

  get spent(): boolean {
    return this.fired >= (this.spec.times ?? 1) || (this.spec.call !== undefined && this.seen >= this.spec.call)
  }

  /** Counts the call if it is one this fault looks at; says whether this is the one to fail. */
  picks(input: FakeCallInput): boolean {
    if (this.spent || input.tool !== this.spec.tool) return false
    if (this.spec.when !== undefined && !this.spec.when(input)) return false
    this.seen++
    return this.spec.call === undefined || this.seen === this.spec.call
  }
}

/** What a call is to do: run normally, fail as a whole, or fail at a line. */
export type FaultPlan =
  | { kind: 'none' }
  | { kind: 'call'; exitCode: number; stderr: string }
  | { kind: 'timeout' }
  | { kind: 'line'; fault: LineFault; shape: 'parse' | 'kernel' | undefined }

export class Faults {
  private readonly list: Fault[] = []

  add(spec: FaultSpec): FaultHandle {
    const fault = new Fault(spec)
    this.list.push(fault)
    return fault
  }

  clear(): void {
    this.list.length = 0
  }

  /** The plan for one call; the first fault that picks it wins (later ones still count it). */
  plan(input: FakeCallInput): FaultPlan {
    let chosen: Fault | undefined
    for (const fault of this.list) if (fault.picks(input) && chosen === undefined) chosen = fault
    if (chosen === undefined) return { kind: 'none' }
    const fault = chosen
    const { spec } = fault
    if (spec.line === undefined) {
      fault.fired++
      if (spec.timeout === true) return { kind: 'timeout' }
      return { kind: 'call', exitCode: spec.exitCode ?? 1, stderr: spec.stderr ?? `${spec.tool}: injected failure\n` }
    }
    const line = spec.line
    return {
      kind: 'line',
      shape: spec.shape,
      fault: {
        matches: (n, text) => {
          if (typeof line === 'number') return n === line
          line.lastIndex = 0
          return line.test(text)
        },
        message: spec.message,
        fired: () => { fault.fired++ },
      },
    }
  }
}
