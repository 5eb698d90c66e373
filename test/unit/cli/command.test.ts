import { describe, expect, it } from 'vitest'
import { errorCode } from '../../../src/core/errors.ts'
import { describeEndpoint } from '../../../src/core/http/client.ts'
import {
  DEFAULT_TOKEN_FILE, parseInvocation, parseUrl, planRequest, type Command, type Env, type RequestPlan,
} from '../../../src/cli/command.ts'

const NO_ENV: Env = {}

describe('parseInvocation + planRequest: argv → HTTP request', () => {
  const cases: { name: string; argv: string[]; request: RequestPlan }[] = [
    {
      name: 'push FILE replaces the whole config',
      argv: ['push', 'router.json'],
      request: { method: 'PUT', path: '/v1/config', headers: {}, body: { kind: 'file', path: 'router.json' } },
    },
    {
      name: 'push - reads the body from stdin',
      argv: ['push', '-'],
      request: { method: 'PUT', path: '/v1/config', headers: {}, body: { kind: 'stdin' } },
    },
    {
      name: '--if-match becomes a quoted If-Match generation, flags may follow the command',
      argv: ['push', 'router.json', '--if-match', '7'],
      request: { method: 'PUT', path: '/v1/config', headers: { 'if-match': '"7"' }, body: { kind: 'file', path: 'router.json' } },
    },
    {
      name: 'put COLLECTION ID FILE edits one item',
      argv: ['put', 'firewallRules', 'fw-1', 'rule.json'],
      request: { method: 'PUT', path: '/v1/config/firewallRules/fw-1', headers: {}, body: { kind: 'file', path: 'rule.json' } },
    },
    {
      name: 'delete COLLECTION ID removes one item, with If-Match',
      argv: ['--if-match', '3', 'delete', 'portForwards', 'pf-web'],
      request: { method: 'DELETE', path: '/v1/config/portForwards/pf-web', headers: { 'if-match': '"3"' } },
    },
    {
      name: 'an id is escaped into the path, never spliced raw',
      argv: ['delete', 'staticNats', 'a/b?c'],
      request: { method: 'DELETE', path: '/v1/config/staticNats/a%2Fb%3Fc', headers: {} },
    },
    { name: 'get alone reads the whole config', argv: ['get'], request: { method: 'GET', path: '/v1/config', headers: {} } },
    { name: 'get COLLECTION reads a collection', argv: ['get', 'publicIps'], request: { method: 'GET', path: '/v1/config/publicIps', headers: {} } },
    { name: 'get COLLECTION ID reads an item', argv: ['get', 'publicIps', 'ip-snat'], request: { method: 'GET', path: '/v1/config/publicIps/ip-snat', headers: {} } },
    { name: 'status reads /v1/status', argv: ['status', '--json'], request: { method: 'GET', path: '/v1/status', headers: {} } },
    { name: 'diff reads /v1/diff', argv: ['diff'], request: { method: 'GET', path: '/v1/diff', headers: {} } },
    { name: 'resync posts /v1/resync', argv: ['resync'], request: { method: 'POST', path: '/v1/resync', headers: {} } },
    { name: 'lb reads /v1/lb', argv: ['lb'], request: { method: 'GET', path: '/v1/lb', headers: {} } },
    {
      name: 'password set reads the password from a file or stdin, never from argv',
      argv: ['password', 'set', 'net1', '10.1.1.10', '-'],
      request: { method: 'PUT', path: '/v1/passwords/net1/10.1.1.10', headers: {}, body: { kind: 'stdin', as: 'password' } },
    },
    { name: 'password get asks whether one is pending', argv: ['password', 'get', 'net1', '10.1.1.10'], request: { method: 'GET', path: '/v1/passwords/net1/10.1.1.10', headers: {} } },
    { name: 'password delete withdraws it', argv: ['password', 'delete', 'a/b', '10.1.1.10'], request: { method: 'DELETE', path: '/v1/passwords/a%2Fb/10.1.1.10', headers: {} } },
    {
      name: 'user-data put sends the bytes to the path of their sha256',
      argv: ['user-data', 'put', 'init.yaml'],
      request: { method: 'PUT', path: '/v1/user-data/', headers: {}, body: { kind: 'file', path: 'init.yaml', as: 'bytes' }, appendBodySha256: true },
    },
    { name: 'user-data list', argv: ['user-data', 'list'], request: { method: 'GET', path: '/v1/user-data', headers: {} } },
    { name: 'user-data delete SHA256', argv: ['user-data', 'delete', 'ab'.repeat(32)], request: { method: 'DELETE', path: `/v1/user-data/${'ab'.repeat(32)}`, headers: {} } },
  ]
  for (const c of cases) {
    it(c.name, () => {
      expect(planRequest(parseInvocation(c.argv, NO_ENV).command)).toEqual(c.request)
    })
  }

  it('help needs no request', () => {
    expect(planRequest(parseInvocation(['help'], NO_ENV).command)).toBeUndefined()
    expect(parseInvocation(['--help'], NO_ENV).command).toEqual({ kind: 'help' })
  })

  it('--json is kept for the printer', () => {
    expect(parseInvocation(['status', '--json'], NO_ENV).json).toBe(true)
    expect(parseInvocation(['status'], NO_ENV).json).toBe(false)
  })
})

describe('parseInvocation: endpoint and token file', () => {
  const cases: { name: string; argv: string[]; env: Env; endpoint: string; tokenFile: string }[] = [
    { name: 'defaults: localhost:8443 and the appliance token file', argv: ['status'], env: NO_ENV, endpoint: 'http://127.0.0.1:8443', tokenFile: DEFAULT_TOKEN_FILE },
    { name: 'env SVMCTL_URL and SVMCTL_TOKEN_FILE', argv: ['status'], env: { SVMCTL_URL: 'http://10.0.0.1:9000', SVMCTL_TOKEN_FILE: '/t' }, endpoint: 'http://10.0.0.1:9000', tokenFile: '/t' },
    { name: 'env SVMCTL_SOCKET wins over env SVMCTL_URL', argv: ['status'], env: { SVMCTL_SOCKET: '/run/r.sock', SVMCTL_URL: 'http://10.0.0.1:9000' }, endpoint: 'unix:/run/r.sock', tokenFile: DEFAULT_TOKEN_FILE },
    { name: '--url wins over env SVMCTL_SOCKET', argv: ['--url', 'http://[::1]:8443', 'status'], env: { SVMCTL_SOCKET: '/run/r.sock' }, endpoint: 'http://[::1]:8443', tokenFile: DEFAULT_TOKEN_FILE },
    { name: '--socket and --token-file win over the environment', argv: ['--socket', '/s', '--token-file', '/f', 'status'], env: { SVMCTL_URL: 'http://h:1', SVMCTL_TOKEN_FILE: '/t' }, endpoint: 'unix:/s', tokenFile: '/f' },
    { name: 'empty environment values count as unset', argv: ['status'], env: { SVMCTL_SOCKET: '', SVMCTL_URL: '', SVMCTL_TOKEN_FILE: '' }, endpoint: 'http://127.0.0.1:8443', tokenFile: DEFAULT_TOKEN_FILE },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const inv = parseInvocation(c.argv, c.env)
      expect(describeEndpoint(inv.endpoint)).toBe(c.endpoint)
      expect(inv.tokenFile).toBe(c.tokenFile)
    })
  }

  it('parseUrl: a URL without a port is port 80', () => {
    expect(parseUrl('http://router')).toEqual({ kind: 'tcp', host: 'router', port: 80 })
  })
})

describe('parseInvocation: usage errors are ERR_CLI_USAGE with a sentence', () => {
  const cases: { name: string; argv: string[]; env?: Env; message: RegExp }[] = [
    { name: 'no command', argv: [], message: /missing command/ },
    { name: 'unknown command', argv: ['apply'], message: /unknown command "apply"/ },
    { name: 'unknown option', argv: ['status', '--verbose'], message: /verbose/ },
    { name: 'unknown collection, with the valid ones listed', argv: ['get', 'rules'], message: /unknown collection "rules".*firewallRules/ },
    { name: 'put without a file', argv: ['put', 'firewallRules', 'fw-1'], message: /missing FILE/ },
    { name: 'delete without an id', argv: ['delete', 'firewallRules'], message: /missing ID/ },
    { name: 'extra arguments', argv: ['status', 'now'], message: /too many arguments for status: now/ },
    { name: 'a non-numeric If-Match', argv: ['push', 'f.json', '--if-match', 'W/"3"'], message: /generation number/ },
    { name: 'If-Match on a read', argv: ['get', '--if-match', '3'], message: /does not apply to get/ },
    { name: 'both --socket and --url', argv: ['--socket', '/s', '--url', 'http://h:1', 'status'], message: /either --socket or --url/ },
    { name: 'https (node:http only speaks plain http)', argv: ['--url', 'https://h:1', 'status'], message: /only http/ },
    { name: 'a URL with a path', argv: ['--url', 'http://h:1/v1', 'status'], message: /just http:\/\/host:port/ },
    { name: 'a broken URL from the environment', argv: ['status'], env: { SVMCTL_URL: 'not a url' }, message: /invalid URL/ },
    { name: 'password with an unknown action', argv: ['password', 'show', 'n', '10.0.0.1'], message: /password needs set, get or delete, got "show"/ },
    { name: 'password set with the password as an argument too', argv: ['password', 'set', 'n', '10.0.0.1', '-', 'hunter2'], message: /too many arguments for password set: hunter2/ },
    { name: 'password get without an address', argv: ['password', 'get', 'n'], message: /missing IP/ },
    { name: 'user-data delete of something that is not a sha256', argv: ['user-data', 'delete', 'ABC'], message: /not a sha256/ },
    { name: 'user-data without an action', argv: ['user-data'], message: /user-data needs put, list or delete/ },
  ]
  for (const c of cases) {
    it(c.name, () => {
      let thrown: unknown
      try {
        parseInvocation(c.argv, c.env ?? NO_ENV)
      } catch (err) {
        thrown = err
      }
      expect(errorCode(thrown)).toBe('ERR_CLI_USAGE')
      expect((thrown as Error).message).toMatch(c.message)
    })
  }
})

describe('planRequest covers every command', () => {
  it('each kind maps to a request or (help) none', () => {
    const commands: Command[] = [
      { kind: 'push', source: { kind: 'stdin' } },
      { kind: 'put', collection: 'staticRoutes', id: 'r1', source: { kind: 'stdin' } },
      { kind: 'delete', collection: 'staticRoutes', id: 'r1' },
      { kind: 'get' }, { kind: 'status' }, { kind: 'diff' }, { kind: 'resync' }, { kind: 'lb' },
      { kind: 'password', action: 'set', network: 'n', ip: '10.0.0.1', source: { kind: 'stdin', as: 'password' } },
      { kind: 'password', action: 'get', network: 'n', ip: '10.0.0.1' }, { kind: 'password', action: 'delete', network: 'n', ip: '10.0.0.1' },
      { kind: 'user-data', action: 'put', source: { kind: 'stdin', as: 'bytes' } }, { kind: 'user-data', action: 'list' },
      { kind: 'user-data', action: 'delete', sha256: 'a'.repeat(64) },
    ]
    for (const c of commands) expect(planRequest(c)?.path).toMatch(/^\/v1\//)
  })
})

describe('svmctl storage', () => {
  const env = {}
  it('talks to storaged by default, with its token', () => {
    const inv = parseInvocation(['storage', 'status'], env)
    expect(inv.endpoint).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 8444 })
    expect(inv.tokenFile).toBe('/etc/systemvm/storaged.token')
    expect(planRequest(inv.command)).toEqual({ method: 'GET', path: '/v1/status', headers: {} })
  })

  it.each([
    [['storage', 'store', 'put', 'nfs1', 'store.json'], { method: 'PUT', path: '/v1/config/stores/nfs1', headers: {}, body: { kind: 'file', path: 'store.json' } }],
    [['--if-match', '4', 'storage', 'store', 'delete', 'nfs1'], { method: 'DELETE', path: '/v1/config/stores/nfs1', headers: { 'if-match': '"4"' } }],
    [['storage', 'submit', '-'], { method: 'POST', path: '/v1/jobs', headers: {}, body: { kind: 'stdin' } }],
    [['storage', 'cancel', 'a b'], { method: 'DELETE', path: '/v1/jobs/a%20b', headers: {} }],
    [['storage', 'templates', 'nfs1'], { method: 'GET', path: '/v1/stores/nfs1/templates', headers: {} }],
  ])('%j', (argv, plan) => {
    expect(planRequest(parseInvocation(argv, env).command)).toEqual(plan)
  })

  it.each([
    [['storage'], 'unknown storage command ""'],
    [['storage', 'store', 'put', 'x'], 'missing FILE (or - for stdin)'],
    [['storage', 'jobs', 'extra'], 'too many arguments for storage jobs: extra'],
    [['--if-match', '1', 'storage', 'jobs'], '--if-match does not apply to storage jobs'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseInvocation(argv, env)).toThrow(message)
  })
})
