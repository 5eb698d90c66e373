import { parseArgs } from 'node:util'
import { ApplianceError, assertNever } from '../core/errors.ts'
import type { Endpoint } from '../core/http/client.ts'
import { COLLECTION_NAMES, type CollectionName } from '../router/api/contract.ts'
import { parseStorage, planStorage, STORAGE_DEFAULT_TOKEN_FILE, STORAGE_DEFAULT_URL, STORAGE_USAGE, type StorageCommand } from './storage.ts'

/**
 * svmctl's command line, turned into data: argv + environment → an Invocation (where the API is,
 * which token, which command), and a command → the HTTP request it makes. Pure: reading the token,
 * the body and the network happen in svmctl.ts.
 */

export const DEFAULT_TOKEN_FILE = '/etc/systemvm/routerd.token'
const DEFAULT_URL = 'http://127.0.0.1:8443'

export const USAGE = `usage: svmctl [options] <command>

commands:
  push FILE|-                  replace the whole config (PUT /v1/config)
  put COLLECTION ID FILE|-     add or replace one item (PUT /v1/config/COLLECTION/ID)
  delete COLLECTION ID         remove one item
  get [COLLECTION [ID]]        print the config, a collection or an item as JSON
  status                       desired/applied generation, last error, last apply
  diff                         differences between the desired state and the kernel (exit 1 if any)
  resync                       compare with the kernel now and repair drift
  lb                           load balancers and their backends: health, since when, last check
  password set NETWORK IP FILE|-
                               set the password the VM at IP fetches once (read from the file or
                               stdin, never from the command line; one trailing newline dropped)
  password get NETWORK IP      whether a password is pending for IP
  password delete NETWORK IP   withdraw the pending password
  user-data put FILE|-         store user data; prints the {"sha256", "size"} a vmData item names
  user-data list               the stored user data and how many vmData items name each
  user-data delete SHA256      remove user data no vmData item names
${STORAGE_USAGE}  help                         this text

options:
  --socket PATH        talk to the daemon on a unix socket (env SVMCTL_SOCKET)
  --url URL            talk to the daemon at http://host:port (env SVMCTL_URL; default ${DEFAULT_URL},
                       storaged ${STORAGE_DEFAULT_URL})
  --token-file PATH    bearer token file (env SVMCTL_TOKEN_FILE; default ${DEFAULT_TOKEN_FILE},
                       storaged ${STORAGE_DEFAULT_TOKEN_FILE})
  --if-match GEN       push/put/delete only if the config is still at generation GEN
  --json               print the raw JSON answer

collections: ${COLLECTION_NAMES.join(', ')}
exit status: 0 ok, 1 failure (or differences for diff), 2 bad usage or request rejected (4xx)
`

/**
 * Where a request body comes from (a file, or stdin for `-`) and what it is: a JSON document
 * (checked before it is sent), a password (sent as {"password": text}), or raw bytes (user data).
 */
export type BodySource = ({ kind: 'file'; path: string } | { kind: 'stdin' }) & { as?: 'json' | 'password' | 'bytes' }

export type Command =
  | { kind: 'push'; source: BodySource; ifMatch?: number }
  | { kind: 'put'; collection: CollectionName; id: string; source: BodySource; ifMatch?: number }
  | { kind: 'delete'; collection: CollectionName; id: string; ifMatch?: number }
  | { kind: 'get'; collection?: CollectionName; id?: string }
  | { kind: 'status' }
  | { kind: 'diff' }
  | { kind: 'resync' }
  | { kind: 'lb' }
  | { kind: 'password'; action: 'set'; network: string; ip: string; source: BodySource }
  | { kind: 'password'; action: 'get' | 'delete'; network: string; ip: string }
  | { kind: 'user-data'; action: 'put'; source: BodySource }
  | { kind: 'user-data'; action: 'list' }
  | { kind: 'user-data'; action: 'delete'; sha256: string }
  | StorageCommand
  | { kind: 'help' }

export interface Invocation {
  endpoint: Endpoint
  tokenFile: string
  /** Print the raw JSON answer instead of the human summary. */
  json: boolean
  command: Command
}

export interface RequestPlan {
  method: 'GET' | 'PUT' | 'DELETE' | 'POST'
  path: string
  headers: Record<string, string>
  body?: BodySource
  /** The body's sha256 (hex) is appended to `path` once the body is read (user data is stored by its hash). */
  appendBodySha256?: boolean
}

export type Env = Readonly<Record<string, string | undefined>>

function usage(message: string): ApplianceError {
  return new ApplianceError('ERR_CLI_USAGE', message)
}

/** Pure. The endpoint named by a `--url` value: only plain http (routerd binds localhost or a socket). */
export function parseUrl(text: string): Endpoint {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw usage(`invalid URL "${text}"`)
  }
  if (url.protocol !== 'http:') throw usage(`unsupported URL scheme "${url.protocol}" (only http://host:port)`)
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') throw usage(`URL "${text}" must be just http://host:port`)
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  return { kind: 'tcp', host, port: url.port === '' ? 80 : Number(url.port) }
}

function parseGeneration(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) throw usage(`--if-match needs a generation number, got "${text}"`)
  return Number(text)
}

function parseCollection(text: string | undefined): CollectionName {
  if (text === undefined) throw usage('missing COLLECTION')
  if (!(COLLECTION_NAMES as string[]).includes(text)) throw usage(`unknown collection "${text}" (one of ${COLLECTION_NAMES.join(', ')})`)
  return text as CollectionName
}

function parseSource(text: string | undefined): BodySource {
  if (text === undefined || text === '') throw usage('missing FILE (or - for stdin)')
  return text === '-' ? { kind: 'stdin' } : { kind: 'file', path: text }
}

function expectArgs(command: string, args: readonly string[], max: number): void {
  if (args.length > max) throw usage(`too many arguments for ${command}: ${args.slice(max).join(' ')}`)
}

function required(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw usage(`missing ${what}`)
  return value
}

/** `password set|get|delete NETWORK IP [FILE|-]`. */
function parsePassword(args: readonly string[]): Command {
  const [action, network, ip, source] = args
  if (action !== 'set' && action !== 'get' && action !== 'delete') throw usage(`password needs set, get or delete, got "${action ?? ''}"`)
  expectArgs(`password ${action}`, args, action === 'set' ? 4 : 3)
  const where = { network: required(network, 'NETWORK'), ip: required(ip, 'IP') }
  if (action !== 'set') return { kind: 'password', action, ...where }
  return { kind: 'password', action, ...where, source: { ...parseSource(source), as: 'password' } }
}

/** `user-data put FILE|-`, `user-data list`, `user-data delete SHA256`. */
function parseUserData(args: readonly string[]): Command {
  const [action, arg] = args
  switch (action) {
    case 'put':
      expectArgs('user-data put', args, 2)
      return { kind: 'user-data', action, source: { ...parseSource(arg), as: 'bytes' } }
    case 'list':
      expectArgs('user-data list', args, 1)
      return { kind: 'user-data', action }
    case 'delete': {
      expectArgs('user-data delete', args, 2)
      const sha256 = required(arg, 'SHA256')
      if (!/^[0-9a-f]{64}$/.test(sha256)) throw usage(`"${sha256}" is not a sha256 (64 lower-case hex digits)`)
      return { kind: 'user-data', action, sha256 }
    }
    default:
      throw usage(`user-data needs put, list or delete, got "${action ?? ''}"`)
  }
}

/**
 * Pure. Parses svmctl's argv (without node and the script) and environment into an Invocation;
 * throws ERR_CLI_USAGE on anything it does not understand. Flags win over the environment, and
 * a socket (flag or env) wins over a URL from the environment.
 */
export function parseInvocation(argv: readonly string[], env: Env): Invocation {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        socket: { type: 'string' },
        url: { type: 'string' },
        'token-file': { type: 'string' },
        'if-match': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (err) {
    throw usage((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.socket !== undefined && values.url !== undefined) throw usage('give either --socket or --url, not both')

  let endpoint: Endpoint
  if (values.socket !== undefined) endpoint = { kind: 'socket', path: values.socket }
  else if (values.url !== undefined) endpoint = parseUrl(values.url)
  else if (env['SVMCTL_SOCKET']) endpoint = { kind: 'socket', path: env['SVMCTL_SOCKET'] }
  else endpoint = parseUrl(env['SVMCTL_URL'] || (positionals[0] === 'storage' ? STORAGE_DEFAULT_URL : DEFAULT_URL))

  const tokenFile = values['token-file'] ?? (env['SVMCTL_TOKEN_FILE'] || (positionals[0] === 'storage' ? STORAGE_DEFAULT_TOKEN_FILE : DEFAULT_TOKEN_FILE))
  const ifMatch = values['if-match'] === undefined ? undefined : parseGeneration(values['if-match'])
  const withIfMatch = ifMatch === undefined ? {} : { ifMatch }
  const base = { endpoint, tokenFile, json: values.json === true }

  const [name, ...args] = positionals
  if (values.help === true || name === 'help') return { ...base, command: { kind: 'help' } }
  if (name === undefined) throw usage('missing command')
  if (ifMatch !== undefined && !['push', 'put', 'delete', 'storage'].includes(name)) throw usage(`--if-match does not apply to ${name}`)

  switch (name) {
    case 'push':
      expectArgs(name, args, 1)
      return { ...base, command: { kind: 'push', source: parseSource(args[0]), ...withIfMatch } }
    case 'put': {
      expectArgs(name, args, 3)
      const collection = parseCollection(args[0])
      const id = args[1]
      if (id === undefined || id === '') throw usage('missing ID')
      return { ...base, command: { kind: 'put', collection, id, source: parseSource(args[2]), ...withIfMatch } }
    }
    case 'delete': {
      expectArgs(name, args, 2)
      const collection = parseCollection(args[0])
      const id = args[1]
      if (id === undefined || id === '') throw usage('missing ID')
      return { ...base, command: { kind: 'delete', collection, id, ...withIfMatch } }
    }
    case 'get': {
      expectArgs(name, args, 2)
      if (args[0] === undefined) return { ...base, command: { kind: 'get' } }
      const collection = parseCollection(args[0])
      return { ...base, command: args[1] === undefined ? { kind: 'get', collection } : { kind: 'get', collection, id: args[1] } }
    }
    case 'status':
    case 'diff':
    case 'resync':
    case 'lb':
      expectArgs(name, args, 0)
      return { ...base, command: { kind: name } }
    case 'password':
      return { ...base, command: parsePassword(args) }
    case 'user-data':
      return { ...base, command: parseUserData(args) }
    case 'storage':
      return { ...base, command: parseStorage(args, ifMatch) }
    default:
      throw usage(`unknown command "${name}"`)
  }
}

function ifMatchHeader(ifMatch: number | undefined): Record<string, string> {
  return ifMatch === undefined ? {} : { 'if-match': `"${ifMatch}"` }
}

function itemPath(collection: CollectionName, id: string): string {
  return `/v1/config/${collection}/${encodeURIComponent(id)}`
}

/** Pure. The HTTP request a command makes, or undefined for commands answered locally (help). */
export function planRequest(command: Command): RequestPlan | undefined {
  switch (command.kind) {
    case 'push':
      return { method: 'PUT', path: '/v1/config', headers: ifMatchHeader(command.ifMatch), body: command.source }
    case 'put':
      return { method: 'PUT', path: itemPath(command.collection, command.id), headers: ifMatchHeader(command.ifMatch), body: command.source }
    case 'delete':
      return { method: 'DELETE', path: itemPath(command.collection, command.id), headers: ifMatchHeader(command.ifMatch) }
    case 'get':
      if (command.collection === undefined) return { method: 'GET', path: '/v1/config', headers: {} }
      if (command.id === undefined) return { method: 'GET', path: `/v1/config/${command.collection}`, headers: {} }
      return { method: 'GET', path: itemPath(command.collection, command.id), headers: {} }
    case 'status':
      return { method: 'GET', path: '/v1/status', headers: {} }
    case 'diff':
      return { method: 'GET', path: '/v1/diff', headers: {} }
    case 'resync':
      return { method: 'POST', path: '/v1/resync', headers: {} }
    case 'lb':
      return { method: 'GET', path: '/v1/lb', headers: {} }
    case 'password': {
      const path = `/v1/passwords/${encodeURIComponent(command.network)}/${encodeURIComponent(command.ip)}`
      if (command.action === 'set') return { method: 'PUT', path, headers: {}, body: command.source }
      return { method: command.action === 'get' ? 'GET' : 'DELETE', path, headers: {} }
    }
    case 'user-data':
      if (command.action === 'put') return { method: 'PUT', path: '/v1/user-data/', headers: {}, body: command.source, appendBodySha256: true }
      if (command.action === 'list') return { method: 'GET', path: '/v1/user-data', headers: {} }
      return { method: 'DELETE', path: `/v1/user-data/${command.sha256}`, headers: {} }
    case 'storage':
      return planStorage(command)
    case 'help':
      return undefined
    default:
      return assertNever(command)
  }
}
