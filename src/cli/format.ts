import { assertNever, errorCode, type Diagnostic } from '../core/errors.ts'
import type { Static } from 'typebox'
import type { ApplyReport, EngineStatus, LbStatusResponse } from '../router/api/contract.ts'
import type { Command } from './command.ts'
import { formatStorage } from './storage.ts'

/**
 * What svmctl prints for an answer of routerd's API, as plain text (a CLI does not log).
 * Pure: status code + parsed body in, stdout/stderr text and exit code out.
 */

export interface Outcome { stdout: string; stderr: string; exitCode: number }

/** The body of an API error (src/api/error-handler.ts). */
interface ErrorBody {
  code: string
  message: string
  diagnostics?: Diagnostic[]
  tool?: string
  line?: number | null
  lineText?: string | null
  context?: string[]
}

/** Codes of failures svmctl detects itself before or instead of a request. */
const CLI_USAGE_CODES: ReadonlySet<string> = new Set(['ERR_CLI_USAGE', 'ERR_CLI_BAD_JSON'])

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`

/** Pure. The exit code for an HTTP error status: 2 when the request was refused (4xx), 1 otherwise. */
export function exitCodeForStatus(status: number): number {
  return status >= 400 && status < 500 ? 2 : 1
}

/** Pure. One line per diagnostic, `  <path>: <message> (<code>)`; errors first, warnings marked as such. */
function formatDiagnostics(diagnostics: readonly Diagnostic[]): string {
  const ordered = [...diagnostics.filter((d) => d.severity !== 'warning'), ...diagnostics.filter((d) => d.severity === 'warning')]
  return ordered
    .map((d) => `  ${d.path === '' ? '/' : d.path}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message} (${d.code})\n`)
    .join('')
}

function asErrorBody(body: unknown): ErrorBody | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined
  const error = (body as { error: unknown }).error
  if (typeof error !== 'object' || error === null) return undefined
  const e = error as Partial<ErrorBody>
  return typeof e.code === 'string' && typeof e.message === 'string' ? (e as ErrorBody) : undefined
}

/**
 * Pure. The text for an error answer: code, message, every diagnostic, and for a batch the kernel
 * refused the failing line with its context.
 */
export function formatErrorResponse(status: number, body: unknown): string {
  const error = asErrorBody(body)
  if (error === undefined) {
    const text = typeof body === 'string' ? body.trim().split('\n')[0] ?? '' : JSON.stringify(body)
    return `svmctl: HTTP ${status}${text === '' ? '' : `: ${text}`}\n`
  }
  let out = `svmctl: ${error.code}: ${error.message} (HTTP ${status})\n`
  if (Array.isArray(error.diagnostics)) out += formatDiagnostics(error.diagnostics)
  if (error.tool !== undefined && error.line !== undefined && error.line !== null) {
    out += `  ${error.tool} line ${error.line}: ${error.lineText ?? ''}\n`
    for (const line of error.context ?? []) out += `    ${line}\n`
  }
  return out
}

/** Pure. The text for a failure svmctl hit itself (usage, unreadable token, no connection). */
export function formatLocalError(err: unknown): Outcome {
  const code = errorCode(err) ?? 'ERR_CLI_FAILED'
  const message = err instanceof Error ? err.message : String(err)
  const usage = CLI_USAGE_CODES.has(code)
  return {
    stdout: '',
    stderr: `svmctl: ${code}: ${message}\n${code === 'ERR_CLI_USAGE' ? "run 'svmctl help' for usage\n" : ''}`,
    exitCode: usage ? 2 : 1,
  }
}

/** Pure. One line summing up what an apply did. */
function formatReport(report: Partial<ApplyReport> | undefined): string {
  if (report === undefined || report.kind === undefined) return ''
  if (report.kind === 'none') return 'no kernel changes'
  const d = report.durationsMs
  const ms = d === undefined ? '' : `, ${Math.round(d.ipset + d.iptables + d.net)} ms`
  return `${report.kind}: ${report.chainsWritten ?? 0} chain(s), ${report.rulesWritten ?? 0} rule(s), `
    + `${report.ipsetsChanged ?? 0} ipset change(s), ${report.netOps ?? 0} address/route op(s)${ms}`
}

interface EditBody { generation: number; applied: boolean; diagnostics?: Diagnostic[]; report?: Partial<ApplyReport> }

/** Pure. The answer to push/put/delete: the generation now in force and any warnings. */
function formatEdit(body: EditBody): string {
  const report = formatReport(body.report)
  let out = `generation ${body.generation} ${body.applied ? 'applied' : 'stored, not applied'}${report === '' ? '' : ` (${report})`}\n`
  const warnings = body.diagnostics ?? []
  if (warnings.length > 0) out += `warnings:\n${formatDiagnostics(warnings)}`
  return out
}

/** Pure. `svmctl status` for people. */
export function formatStatus(status: EngineStatus): string {
  const rows: [string, string][] = []
  const behind = status.appliedGeneration !== status.desiredGeneration
  rows.push(['desired generation', String(status.desiredGeneration)])
  rows.push(['applied generation', `${status.appliedGeneration}${behind ? ` (behind: generation ${status.desiredGeneration} is not in the kernel)` : ' (in force)'}`])
  const e = status.lastError
  rows.push(['last error', e === null ? 'none' : `${e.code}: ${e.message}${e.line === undefined || e.line === null ? '' : ` (line ${e.line})`} at ${e.at}`])
  const a = status.lastApply
  rows.push(['last apply', a === null ? 'never' : `${a.at}, ${formatReport(a)}`])
  for (const [name, sub] of Object.entries(status.subsystems ?? {})) {
    const err = sub.lastError
    rows.push([name, `generation ${sub.appliedGeneration}${sub.lastDurationMs === null ? '' : `, ${sub.lastDurationMs} ms`}${err === null ? '' : `, failed: ${err.code}${err.line === undefined || err.line === null ? '' : ` at line ${err.line}`}`}`])
  }
  if (status.drift !== undefined) {
    const d = status.drift
    rows.push(['drift checks', `${d.checks} run, ${d.repairs} repair(s)`])
    for (const p of d.lastProblems) rows.push(['', `last drift: ${p}`])
  }
  const width = Math.max(...rows.map(([k]) => k.length)) + 2
  return rows.map(([k, v]) => `${k === '' ? '' : `${k}:`}`.padEnd(width) + v).join('\n') + '\n'
}

/** Pure. `svmctl diff`: "in sync" (exit 0) or one line per difference (exit 1). */
export function formatDiff(differences: readonly string[]): Outcome {
  if (differences.length === 0) return { stdout: 'in sync\n', stderr: '', exitCode: 0 }
  const lines = differences.map((d) => `  ${d}\n`).join('')
  return { stdout: `${differences.length} difference(s) between the desired state and the kernel:\n${lines}`, stderr: '', exitCode: 1 }
}

/** Pure. `svmctl resync`: what the drift check found (and repaired). */
function formatResync(problems: readonly string[]): string {
  if (problems.length === 0) return 'no drift: the kernel matches the desired state\n'
  return `found ${problems.length} problem(s); a full apply repaired them:\n${problems.map((p) => `  ${p}\n`).join('')}`
}

/** Pure. What to print and which exit code for the answer `status`/`body` to `command`. */
export function renderResponse(command: Command, asJson: boolean, status: number, body: unknown): Outcome {
  if (status < 200 || status >= 300) {
    return { stdout: asJson ? json(body) : '', stderr: formatErrorResponse(status, body), exitCode: exitCodeForStatus(status) }
  }
  if (command.kind === 'diff') {
    const differences = (body as { differences?: string[] }).differences ?? []
    const outcome = formatDiff(differences)
    return asJson ? { ...outcome, stdout: json(body) } : outcome
  }
  if (asJson || command.kind === 'get') return { stdout: json(body), stderr: '', exitCode: 0 }
  switch (command.kind) {
    case 'push':
    case 'put':
    case 'delete':
      return { stdout: formatEdit(body as EditBody), stderr: '', exitCode: 0 }
    case 'status':
      return { stdout: formatStatus(body as EngineStatus), stderr: '', exitCode: 0 }
    case 'resync':
      return { stdout: formatResync((body as { problems?: string[] }).problems ?? []), stderr: '', exitCode: 0 }
    case 'lb':
      return { stdout: formatLoadBalancers(body as LbStatus), stderr: '', exitCode: 0 }
    case 'password':
      return { stdout: formatPassword(command, body), stderr: '', exitCode: 0 }
    case 'user-data':
      return { stdout: formatUserData(command, body), stderr: '', exitCode: 0 }
    case 'storage':
      return { stdout: formatStorage(command, body), stderr: '', exitCode: 0 }
    case 'help':
      return { stdout: '', stderr: '', exitCode: 0 }
    default:
      return assertNever(command)
  }
}

type LbStatus = Static<typeof LbStatusResponse>

/** Pure. `svmctl lb`: one block per load balancer, one line per backend. */
export function formatLoadBalancers(status: LbStatus): string {
  if (status.loadBalancers.length === 0) return 'no load balancers\n'
  return status.loadBalancers.map((lb) => {
    const head = `${lb.id}  ${lb.mode} ${lb.protocol} ${lb.publicIp}:${lb.ports}\n`
    return head + lb.backends.map((b) => {
      const weight = b.weight === 0 ? 'drained' : `weight ${b.weight}${b.steeredWeight === undefined ? '' : ` (steered ${b.steeredWeight})`}`
      const since = b.since === null ? '' : ` since ${b.since}`
      const last = b.lastResult === null ? '' : `, last check ${b.lastResult.ok ? 'passed' : `failed: ${b.lastResult.detail}`}`
      const conns = b.connections === undefined ? '' : `, ${b.connections} connection(s)`
      return `  ${`${b.ip}:${b.port}`.padEnd(21)} ${b.state.padEnd(9)} ${weight}${since}${last}${conns}\n`
    }).join('')
  }).join('')
}

/** Pure. `svmctl password …` for people (the password itself is never printed: routerd never gives it back). */
function formatPassword(command: Extract<Command, { kind: 'password' }>, body: unknown): string {
  const where = `${command.ip} on ${command.network}`
  switch (command.action) {
    case 'set':
      return `password set for ${where}: pending until the VM fetches and acknowledges it\n`
    case 'get':
      return (body as { pending?: boolean }).pending === true ? `a password is pending for ${where}\n` : `no password pending for ${where}\n`
    case 'delete':
      return `no password pending for ${where}\n`
    default:
      return assertNever(command)
  }
}

interface StoredUserData { sha256: string; size: number; references?: number }

/** Pure. `svmctl user-data …` for people: `put` prints the reference a vmData item takes as it is. */
function formatUserData(command: Extract<Command, { kind: 'user-data' }>, body: unknown): string {
  switch (command.action) {
    case 'put': {
      const b = body as StoredUserData
      return `${JSON.stringify({ sha256: b.sha256, size: b.size })}\n`
    }
    case 'list': {
      const blobs = (body as { blobs?: StoredUserData[] }).blobs ?? []
      if (blobs.length === 0) return 'no user data stored\n'
      return blobs.map((b) => `${b.sha256}  ${String(b.size).padStart(8)} bytes  named by ${b.references ?? 0} vmData item(s)\n`).join('')
    }
    case 'delete':
      return `user data ${command.sha256} deleted\n`
    default:
      return assertNever(command)
  }
}
