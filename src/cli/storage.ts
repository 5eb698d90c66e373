import { ApplianceError, assertNever } from '../core/errors.ts'
import type { Job, StorageStatus } from '../storage/api/contract.ts'

/**
 * `svmctl storage …`: storaged's commands (its stores, jobs and listings), parsed, planned and
 * printed here; pure, as command.ts and format.ts are for routerd's.
 */

export const STORAGE_DEFAULT_URL = 'http://127.0.0.1:8444'
export const STORAGE_DEFAULT_TOKEN_FILE = '/etc/systemvm/storaged.token'

export const STORAGE_USAGE = `  storage status               stores (mounted, writable, free), DNS and management checks, jobs
  storage stores               the stores' config as JSON
  storage store put ID FILE|-  add or replace a store ({"id","url":"nfs://host/export" or "file:///dir"})
  storage store delete ID      remove a store (refused while jobs use it)
  storage submit FILE|-        start a job ({"kind":"download"|"copy"|"snapshotToTemplate"|"delete"|"checksum",…}); prints its id
  storage jobs                 every job kept: state, progress, error
  storage job ID               one job as JSON
  storage cancel ID            cancel a job (its temporary files are removed)
  storage templates STORE      the templates and ISOs installed on a store
  storage volumes STORE        the volumes installed on a store
`

type Source = { kind: 'file'; path: string } | { kind: 'stdin' }

export type StorageCommand =
  | { kind: 'storage'; action: 'status' | 'stores' | 'jobs' }
  | { kind: 'storage'; action: 'store-put'; id: string; source: Source; ifMatch?: number }
  | { kind: 'storage'; action: 'store-delete'; id: string; ifMatch?: number }
  | { kind: 'storage'; action: 'submit'; source: Source }
  | { kind: 'storage'; action: 'job' | 'cancel'; id: string }
  | { kind: 'storage'; action: 'templates' | 'volumes'; store: string }

function usage(message: string): ApplianceError {
  return new ApplianceError('ERR_CLI_USAGE', message)
}

function one(args: readonly string[], at: number, what: string): string {
  const value = args[at]
  if (value === undefined || value === '') throw usage(`missing ${what}`)
  return value
}

function source(text: string | undefined): Source {
  if (text === undefined || text === '') throw usage('missing FILE (or - for stdin)')
  return text === '-' ? { kind: 'stdin' } : { kind: 'file', path: text }
}

function arity(command: string, args: readonly string[], n: number): void {
  if (args.length > n) throw usage(`too many arguments for storage ${command}: ${args.slice(n).join(' ')}`)
}

/** Pure. `storage <action> …` (args after "storage"). */
export function parseStorage(args: readonly string[], ifMatch: number | undefined): StorageCommand {
  const [action, ...rest] = args
  const withIfMatch = ifMatch === undefined ? {} : { ifMatch }
  if (ifMatch !== undefined && action !== 'store') throw usage(`--if-match does not apply to storage ${action ?? ''}`)
  switch (action) {
    case 'status':
    case 'stores':
    case 'jobs':
      arity(action, rest, 0)
      return { kind: 'storage', action }
    case 'store': {
      const [verb] = rest
      if (verb === 'put') {
        arity('store put', rest, 3)
        return { kind: 'storage', action: 'store-put', id: one(rest, 1, 'ID'), source: source(rest[2]), ...withIfMatch }
      }
      if (verb === 'delete') {
        arity('store delete', rest, 2)
        return { kind: 'storage', action: 'store-delete', id: one(rest, 1, 'ID'), ...withIfMatch }
      }
      throw usage(`storage store needs put or delete, got "${verb ?? ''}"`)
    }
    case 'submit':
      arity(action, rest, 1)
      return { kind: 'storage', action, source: source(rest[0]) }
    case 'job':
    case 'cancel':
      arity(action, rest, 1)
      return { kind: 'storage', action, id: one(rest, 0, 'ID') }
    case 'templates':
    case 'volumes':
      arity(action, rest, 1)
      return { kind: 'storage', action, store: one(rest, 0, 'STORE') }
    default:
      throw usage(`unknown storage command "${action ?? ''}"`)
  }
}

export interface StoragePlan {
  method: 'GET' | 'PUT' | 'DELETE' | 'POST'
  path: string
  headers: Record<string, string>
  body?: Source & { as?: 'json' }
}

/** Pure. The request a storage command makes. */
export function planStorage(command: StorageCommand): StoragePlan {
  const ifMatch = 'ifMatch' in command && command.ifMatch !== undefined ? { 'if-match': `"${command.ifMatch}"` } : {}
  const e = encodeURIComponent
  switch (command.action) {
    case 'status': return { method: 'GET', path: '/v1/status', headers: {} }
    case 'stores': return { method: 'GET', path: '/v1/config', headers: {} }
    case 'jobs': return { method: 'GET', path: '/v1/jobs', headers: {} }
    case 'store-put': return { method: 'PUT', path: `/v1/config/stores/${e(command.id)}`, headers: ifMatch, body: command.source }
    case 'store-delete': return { method: 'DELETE', path: `/v1/config/stores/${e(command.id)}`, headers: ifMatch }
    case 'submit': return { method: 'POST', path: '/v1/jobs', headers: {}, body: command.source }
    case 'job': return { method: 'GET', path: `/v1/jobs/${e(command.id)}`, headers: {} }
    case 'cancel': return { method: 'DELETE', path: `/v1/jobs/${e(command.id)}`, headers: {} }
    case 'templates': return { method: 'GET', path: `/v1/stores/${e(command.store)}/templates`, headers: {} }
    case 'volumes': return { method: 'GET', path: `/v1/stores/${e(command.store)}/volumes`, headers: {} }
    default: return assertNever(command)
  }
}

const GiB = 1024 ** 3
const size = (n: number | null) => (n === null ? '?' : n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`)

function jobLine(j: Job): string {
  const progress = j.percent === null ? `${size(j.bytes)}` : `${j.percent}% of ${size(j.total)}`
  const rate = j.state === 'DOWNLOAD_IN_PROGRESS' && j.ratePerSecond > 0 ? ` at ${size(j.ratePerSecond)}/s` : ''
  const end = j.error !== null ? `  ${j.error.code}: ${j.error.message}` : j.result?.installPath === undefined ? '' : `  ${j.result.installPath}`
  return `${j.id}  ${j.kind.padEnd(18)} ${j.state.padEnd(20)} ${progress}${rate}${end}\n`
}

/** Pure. What a successful storage command prints for people (--json prints the answer as it is). */
export function formatStorage(command: StorageCommand, body: unknown): string {
  switch (command.action) {
    case 'status': {
      const s = body as StorageStatus
      const stores = s.stores.map((h) => `  ${h.id.padEnd(12)} ${h.mounted ? 'mounted' : 'NOT MOUNTED'}${h.writable ? ', writable' : h.mounted ? ', NOT WRITABLE' : ''}, ${size(h.freeBytes)} free of ${size(h.totalBytes)}  ${h.mountPoint ?? h.url}${h.lastError === null ? '' : `  ${h.lastError.code}: ${h.lastError.message}`}\n`).join('')
      const check = (name: string, c: { ok: boolean; detail: string } | null) => (c === null ? '' : `${name}: ${c.ok ? 'ok' : 'FAILED'} (${c.detail})\n`)
      const jobs = Object.entries(s.jobs).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')
      return `${s.ready ? 'ready' : 'NOT READY'}, generation ${s.generation}\nstores:\n${stores || '  none\n'}${check('dns', s.checks.dns)}${check('management', s.checks.management)}jobs: ${jobs || 'none'}\n${s.problems.map((p) => `problem: ${p}\n`).join('')}`
    }
    case 'jobs': {
      const jobs = (body as { jobs: Job[] }).jobs
      return jobs.length === 0 ? 'no jobs\n' : jobs.map(jobLine).join('')
    }
    case 'submit':
    case 'cancel':
      return jobLine(body as Job)
    case 'store-put':
    case 'store-delete':
      return `generation ${(body as { generation: number }).generation}\n`
    case 'templates':
    case 'volumes': {
      const list = body as { installs: { accountId: number; id: number; installPath: string; format: string; size: number; virtualSize: number; uniqueName: string }[]; notListed: { path: string; reason: string }[] }
      const lines = list.installs.map((i) => `${String(i.accountId).padStart(6)}/${String(i.id).padEnd(8)} ${i.format.padEnd(6)} ${size(i.size).padStart(10)} (virtual ${size(i.virtualSize)})  ${i.uniqueName}  ${i.installPath}\n`)
      const skipped = list.notListed.map((n) => `not listed: ${n.path}: ${n.reason}\n`)
      return [...lines, ...skipped].join('') || `no ${command.action}\n`
    }
    case 'stores':
    case 'job':
      return `${JSON.stringify(body, null, 2)}\n`
    default:
      return assertNever(command)
  }
}
