import { describe, expect, it } from 'vitest'
import { ApplianceError } from '../../../src/core/errors.ts'
import {
  exitCodeForStatus, formatDiff, formatErrorResponse, formatLocalError, formatStatus, renderResponse,
} from '../../../src/cli/format.ts'
import type { EngineStatus } from '../../../src/router/api/contract.ts'

const report = { kind: 'partial' as const, chainsWritten: 3, rulesWritten: 5, ipsetsChanged: 0, netOps: 1, durationsMs: { ipset: 1, iptables: 10, net: 2 } }

describe('error answers', () => {
  it('prints the code, the message and every diagnostic as "  <path>: <message> (<code>)", warnings last', () => {
    const body = {
      error: {
        code: 'ERR_CONFIG_INVALID', message: 'config rejected: 2 problem(s)',
        diagnostics: [
          { severity: 'warning', path: '/publicIps/1', code: 'W_UNUSED_IP', message: 'not used' },
          { severity: 'error', path: '/portForwards/0/privateIp', code: 'ERR_SCHEMA', message: 'must match format "ipv4"' },
          { severity: 'error', path: '', code: 'ERR_UNKNOWN_FIELD', message: 'unknown field' },
        ],
      },
    }
    expect(formatErrorResponse(400, body)).toBe([
      'svmctl: ERR_CONFIG_INVALID: config rejected: 2 problem(s) (HTTP 400)',
      '  /portForwards/0/privateIp: must match format "ipv4" (ERR_SCHEMA)',
      '  /: unknown field (ERR_UNKNOWN_FIELD)',
      '  /publicIps/1: warning: not used (W_UNUSED_IP)',
      '',
    ].join('\n'))
  })

  it('shows the line a kernel tool refused, with its context', () => {
    const body = {
      error: {
        code: 'ERR_KERNEL_REJECTED', message: 'iptables-restore rejected line 4: -A X -j Y (bad)',
        tool: 'iptables-restore', line: 4, lineText: '-A X -j Y', context: ['*filter', ':X - [0:0]', '-A X -j Y'],
      },
    }
    expect(formatErrorResponse(422, body)).toBe([
      'svmctl: ERR_KERNEL_REJECTED: iptables-restore rejected line 4: -A X -j Y (bad) (HTTP 422)',
      '  iptables-restore line 4: -A X -j Y',
      '    *filter',
      '    :X - [0:0]',
      '    -A X -j Y',
      '',
    ].join('\n'))
  })

  it('an answer that is not an API error (a proxy, a text page) still shows its status', () => {
    expect(formatErrorResponse(502, 'Bad Gateway\nmore')).toBe('svmctl: HTTP 502: Bad Gateway\n')
  })

  const exits = [
    { name: '400 rejected config → 2', status: 400, exit: 2 },
    { name: '401 bad token → 2', status: 401, exit: 2 },
    { name: '412 stale If-Match → 2', status: 412, exit: 2 },
    { name: '422 kernel refused → 2', status: 422, exit: 2 },
    { name: '500 internal → 1', status: 500, exit: 1 },
    { name: '503 → 1', status: 503, exit: 1 },
  ]
  for (const c of exits) it(`exit status: ${c.name}`, () => expect(exitCodeForStatus(c.status)).toBe(c.exit))

  it('renderResponse puts errors on stderr and, with --json, the raw body on stdout', () => {
    const body = { error: { code: 'ERR_NOT_FOUND', message: 'firewallRules/x not found' } }
    expect(renderResponse({ kind: 'delete', collection: 'firewallRules', id: 'x' }, false, 404, body))
      .toEqual({ stdout: '', stderr: 'svmctl: ERR_NOT_FOUND: firewallRules/x not found (HTTP 404)\n', exitCode: 2 })
    expect(renderResponse({ kind: 'status' }, true, 500, body).stdout).toBe(`${JSON.stringify(body, null, 2)}\n`)
  })

  it('local failures: usage errors exit 2 with a hint, others exit 1', () => {
    expect(formatLocalError(new ApplianceError('ERR_CLI_USAGE', 'missing command')))
      .toEqual({ stdout: '', stderr: "svmctl: ERR_CLI_USAGE: missing command\nrun 'svmctl help' for usage\n", exitCode: 2 })
    expect(formatLocalError(new ApplianceError('ERR_CLI_BAD_JSON', 'f is not JSON')).exitCode).toBe(2)
    expect(formatLocalError(new ApplianceError('ERR_CLI_CONNECT', 'cannot reach routerd')).exitCode).toBe(1)
    expect(formatLocalError(new Error('boom')).stderr).toBe('svmctl: ERR_CLI_FAILED: boom\n')
  })
})

describe('success answers', () => {
  it('push prints the generation, what the apply did, and the warnings', () => {
    const body = { generation: 4, applied: true, report, diagnostics: [{ severity: 'warning', path: '/staticNats/0', code: 'W_X', message: 'careful' }] }
    expect(renderResponse({ kind: 'push', source: { kind: 'stdin' } }, false, 200, body)).toEqual({
      stdout: 'generation 4 applied (partial: 3 chain(s), 5 rule(s), 0 ipset change(s), 1 address/route op(s), 13 ms)\nwarnings:\n  /staticNats/0: warning: careful (W_X)\n',
      stderr: '', exitCode: 0,
    })
  })

  it('an edit that changed nothing in the kernel says so', () => {
    const body = { generation: 5, applied: true, report: { ...report, kind: 'none' }, diagnostics: [] }
    expect(renderResponse({ kind: 'delete', collection: 'staticRoutes', id: 'r' }, false, 200, body).stdout).toBe('generation 5 applied (no kernel changes)\n')
  })

  it('get prints pretty JSON', () => {
    expect(renderResponse({ kind: 'get' }, false, 200, { generation: 1, config: { a: [] } }).stdout).toBe('{\n  "generation": 1,\n  "config": {\n    "a": []\n  }\n}\n')
  })

  it('diff: "in sync" exits 0; differences are listed and exit 1 (also with --json)', () => {
    expect(formatDiff([])).toEqual({ stdout: 'in sync\n', stderr: '', exitCode: 0 })
    expect(formatDiff(['chain SVM-FWD missing', 'address 10.1.1.1/24 on eth1 missing'])).toEqual({
      stdout: '2 difference(s) between the desired state and the kernel:\n  chain SVM-FWD missing\n  address 10.1.1.1/24 on eth1 missing\n',
      stderr: '', exitCode: 1,
    })
    expect(renderResponse({ kind: 'diff' }, true, 200, { differences: ['x'] }).exitCode).toBe(1)
  })

  it('password: set, pending or not, withdrawn; the password itself is never printed', () => {
    const where = { network: 'net1', ip: '10.1.1.10' }
    expect(renderResponse({ kind: 'password', action: 'set', ...where, source: { kind: 'stdin', as: 'password' } }, false, 204, '').stdout)
      .toBe('password set for 10.1.1.10 on net1: pending until the VM fetches and acknowledges it\n')
    expect(renderResponse({ kind: 'password', action: 'get', ...where }, false, 200, { pending: true }).stdout).toBe('a password is pending for 10.1.1.10 on net1\n')
    expect(renderResponse({ kind: 'password', action: 'get', ...where }, false, 200, { pending: false }).stdout).toBe('no password pending for 10.1.1.10 on net1\n')
    expect(renderResponse({ kind: 'password', action: 'delete', ...where }, false, 204, '').stdout).toBe('no password pending for 10.1.1.10 on net1\n')
  })

  it('user-data: put prints the reference a vmData item takes; list one line per blob', () => {
    const sha256 = 'c'.repeat(64)
    expect(renderResponse({ kind: 'user-data', action: 'put', source: { kind: 'stdin', as: 'bytes' } }, false, 201, { sha256, size: 12 }).stdout)
      .toBe(`{"sha256":"${sha256}","size":12}\n`)
    expect(renderResponse({ kind: 'user-data', action: 'list' }, false, 200, { blobs: [] }).stdout).toBe('no user data stored\n')
    expect(renderResponse({ kind: 'user-data', action: 'list' }, false, 200, { blobs: [{ sha256, size: 12, references: 2 }] }).stdout)
      .toBe(`${sha256}        12 bytes  named by 2 vmData item(s)\n`)
  })

  it('lb: a block per load balancer, a line per backend with its health, weight and last check', () => {
    const backend = { ip: '10.1.1.21', port: 8080, weight: 1, state: 'up' as const, since: '2026-12-03T22:00:00.000Z', lastResult: { ok: true, detail: 'status 200', at: '2026-12-03T22:00:05.000Z', durationMs: 2 }, consecutivePasses: 3, consecutiveFailures: 0 }
    const body = { loadBalancers: [{ id: 'web', mode: 'l4', publicIp: '203.0.113.10', protocol: 'tcp', ports: '80', backends: [
      backend,
      { ...backend, ip: '10.1.1.22', state: 'down' as const, lastResult: { ...backend.lastResult, ok: false, detail: 'connect refused' }, consecutivePasses: 0, consecutiveFailures: 3 },
      { ...backend, ip: '10.1.1.23', weight: 0, state: 'unchecked' as const, since: null, lastResult: null, steeredWeight: 4, connections: 2 },
    ] }] }
    expect(renderResponse({ kind: 'lb' }, false, 200, body).stdout).toBe([
      'web  l4 tcp 203.0.113.10:80',
      '  10.1.1.21:8080        up        weight 1 since 2026-12-03T22:00:00.000Z, last check passed',
      '  10.1.1.22:8080        down      weight 1 since 2026-12-03T22:00:00.000Z, last check failed: connect refused',
      '  10.1.1.23:8080        unchecked drained, 2 connection(s)',
      '',
    ].join('\n'))
    expect(renderResponse({ kind: 'lb' }, false, 200, { loadBalancers: [] }).stdout).toBe('no load balancers\n')
  })

  it('resync reports what it repaired', () => {
    expect(renderResponse({ kind: 'resync' }, false, 200, { problems: [] }).stdout).toBe('no drift: the kernel matches the desired state\n')
    expect(renderResponse({ kind: 'resync' }, false, 200, { problems: ['canary gone'] }).stdout).toBe('found 1 problem(s); a full apply repaired them:\n  canary gone\n')
  })

  it('status: generations, last error with its line, last apply, drift', () => {
    const status: EngineStatus = {
      desiredGeneration: 7, appliedGeneration: 6,
      lastError: { code: 'ERR_KERNEL_REJECTED', message: 'iptables-restore rejected line 9', line: 9, at: '2026-01-01T00:00:00.000Z' },
      lastApply: { ...report, at: '2025-12-31T23:59:00.000Z' },
      subsystems: {
        ipset: { appliedGeneration: 6, lastError: null, lastDurationMs: 3 },
        iptables: { appliedGeneration: 6, lastError: { code: 'ERR_KERNEL_REJECTED', message: 'x', line: 9, at: '2026-01-01T00:00:00.000Z' }, lastDurationMs: 9 },
        net: { appliedGeneration: 6, lastError: null, lastDurationMs: null },
      },
      drift: { checks: 4, repairs: 1, lastProblems: ['canary gone'] },
    }
    expect(formatStatus(status)).toBe([
      'desired generation: 7',
      'applied generation: 6 (behind: generation 7 is not in the kernel)',
      'last error:         ERR_KERNEL_REJECTED: iptables-restore rejected line 9 (line 9) at 2026-01-01T00:00:00.000Z',
      'last apply:         2025-12-31T23:59:00.000Z, partial: 3 chain(s), 5 rule(s), 0 ipset change(s), 1 address/route op(s), 13 ms',
      'ipset:              generation 6, 3 ms',
      'iptables:           generation 6, 9 ms, failed: ERR_KERNEL_REJECTED at line 9',
      'net:                generation 6',
      'drift checks:       4 run, 1 repair(s)',
      '                    last drift: canary gone',
      '',
    ].join('\n'))
  })

  it('status of a fresh daemon', () => {
    const fresh = { appliedGeneration: 0, lastError: null, lastDurationMs: null }
    const status: EngineStatus = {
      desiredGeneration: 0, appliedGeneration: 0, lastError: null, lastApply: null,
      subsystems: { ipset: fresh, iptables: fresh, net: fresh }, drift: { checks: 0, repairs: 0, lastProblems: [] },
    }
    expect(formatStatus(status)).toContain('last error:         none\nlast apply:         never\n')
  })
})
