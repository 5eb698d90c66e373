import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, run, type RunResult } from '../../src/core/exec.ts'
import { LAB_ADDR, LAB_ROLES } from '../../src/lab/lab.ts'
import { labRouterConfig, startHarness, TOKEN, type Harness } from '../helpers/router-harness.ts'

/**
 * svmctl and `make demo` end to end, from the built dist/ (`make test` builds it first).
 * The demo's API port 8443 is bound inside its own router namespace, so this file runs beside the others.
 */

const root = process.getuid?.() === 0
const DIST = new URL('../../dist/', import.meta.url).pathname
const DEMO = join(DIST, 'lab', 'demo.js')
const SVMCTL = join(DIST, 'cli', 'svmctl.js')
const HOST = LAB_ADDR.internetHost

async function demoNamespaces(): Promise<string[]> {
  const r = await run(binary('ip'), ['netns', 'list'])
  return r.stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith('svmdemo'))
}

/** The output printed after the `n`th (0-based) command line that contains `command`, up to the next command. */
function answerTo(output: string, command: string, n = 0): string {
  const blocks = output.split(/^\$ /m).slice(1).filter((b) => (b.split('\n')[0] ?? '').includes(command))
  const block = blocks[n]
  if (block === undefined) throw new Error(`no command #${n} containing "${command}" in the demo output`)
  return block.split('\n').slice(1).join('\n').replace(/\n== [\s\S]*$/, '').trim()
}

describe.skipIf(!root)('make demo (node dist/lab/demo.js up, then down)', () => {
  let up: RunResult
  beforeAll(async () => {
    up = await run(process.execPath, [DEMO, 'up'], { timeoutMs: 120_000, okCodes: [0, 1] })
  }, 150_000)
  afterAll(async () => {
    await run(process.execPath, [DEMO, 'down'], { timeoutMs: 60_000, okCodes: [0, 1] })
  }, 60_000)

  it('comes up and leaves the lab running', async () => {
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0)
    expect(await demoNamespaces()).toHaveLength(LAB_ROLES.length)
    expect(up.stdout).toContain('make demo-down')
  })

  it('shows source NAT: the internet host sees the source-NAT IP', () => {
    expect(answerTo(up.stdout, `-vm1 curl -s --max-time 2 http://${HOST}/`)).toBe('203.0.113.10 80')
  })

  it('shows static NAT both ways: vm2 leaves as 203.0.113.11; 203.0.113.11:80 reaches vm2', () => {
    expect(answerTo(up.stdout, `-vm2 curl -s --max-time 2 http://${HOST}/`)).toBe('203.0.113.11 80')
    expect(answerTo(up.stdout, `--interface ${HOST} http://203.0.113.11/`)).toBe(`${HOST} 80`)
    expect(answerTo(up.stdout, 'conntrack -L -p tcp --orig-dst 203.0.113.11')).toContain(`src=${LAB_ADDR.vm2} `)
  })

  it('shows the port forward 203.0.113.12:8080 answered by vm1:80', () => {
    expect(answerTo(up.stdout, 'http://203.0.113.12:8080/')).toBe(`${HOST} 80`)
    expect(answerTo(up.stdout, 'conntrack -L -p tcp --orig-dst 203.0.113.12')).toContain(`src=${LAB_ADDR.vm1} `)
  })

  it('shows a firewall rule opening tcp/8000 and, once deleted, closing it again', () => {
    const url = 'http://203.0.113.11:8000/'
    expect(answerTo(up.stdout, url, 0)).toMatch(/^\[exit \d+\]$/)
    expect(answerTo(up.stdout, 'svmctl.js --token-file /tmp/systemvm-demo/routerd.token put firewallRules fw-sn-8000')).toMatch(/^generation 2 applied/)
    expect(answerTo(up.stdout, url, 1)).toBe(`${HOST} 8000`)
    expect(answerTo(up.stdout, 'delete firewallRules fw-sn-8000')).toMatch(/^generation 3 applied/)
    expect(answerTo(up.stdout, url, 2)).toMatch(/^\[exit \d+\]$/)
  })

  it('shows status, diff in sync and the nat table', () => {
    expect(answerTo(up.stdout, ' status', 1)).toMatch(/^desired generation: 3\napplied generation: 3 /)
    expect(answerTo(up.stdout, ' diff')).toBe('in sync')
    expect(answerTo(up.stdout, 'iptables-save -t nat')).toMatch(/-j DNAT --to-destination 10\.1\.1\.10:80/)
  })

  it('shows vm3 getting its lease by DHCP, names answered by DNS, and the internet through source NAT', () => {
    expect(answerTo(up.stdout, 'udhcpc -i eth0')).toMatch(/lease of 10\.2\.2\.10 obtained from 10\.2\.2\.1/)
    expect(answerTo(up.stdout, 'vm-three.two.internal')).toBe('10.2.2.10')
    expect(answerTo(up.stdout, `-x ${LAB_ADDR.vm2}`)).toBe('vm-two.cloud.internal.')
    expect(answerTo(up.stdout, '-vm3 curl')).toBe('203.0.113.10 80')
  })

  it('down removes every svmdemo namespace and is quiet the second time', async () => {
    const first = await run(process.execPath, [DEMO, 'down'], { timeoutMs: 60_000 })
    expect(first.stdout).toMatch(/^removed demo lab svmdemo/)
    expect(await demoNamespaces()).toEqual([])
    const again = await run(process.execPath, [DEMO, 'down'], { timeoutMs: 60_000 })
    expect(again.stdout).toBe('')
  })
})

describe.skipIf(!root)('svmctl against routerd on a unix socket', () => {
  let h: Harness
  let dir: string
  let socket: string
  let tokenFile: string
  const svmctl = (args: string[], stdin?: string) =>
    run(process.execPath, [SVMCTL, '--socket', socket, '--token-file', tokenFile, ...args], { okCodes: [0, 1, 2], ...(stdin === undefined ? {} : { stdin }) })

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'svmctl-test-'))
    socket = join(dir, 'routerd.sock')
    tokenFile = join(dir, 'token')
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 })
    h = await startHarness()
    await h.app.listen({ path: socket })
  })
  afterAll(async () => {
    await h?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('push of an invalid config exits 2 and prints every diagnostic with its path', async () => {
    const config = labRouterConfig()
    Object.assign(config, {
      portForwards: [{ id: 'pf-web', publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 8080 }, privateIp: '10.1.1.300', privatePorts: { start: 80 } }],
      firewallRules: [{ id: 'fw-1', publicIp: '203.0.113.11', protocol: 'tcp', ports: { start: 80 }, colour: 'red' }],
    })
    const file = join(dir, 'bad.json')
    writeFileSync(file, JSON.stringify(config))
    const r = await svmctl(['push', file])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^svmctl: ERR_CONFIG_INVALID: .* \(HTTP 400\)\n/)
    expect(r.stderr).toMatch(/^ {2}\/portForwards\/0\/privateIp: .+ \(ERR_SCHEMA\)$/m)
    expect(r.stderr).toMatch(/^ {2}\/firewallRules\/0\/colour: unknown field \(ERR_UNKNOWN_FIELD\)$/m)
    expect((await svmctl(['status'])).stdout).toMatch(/^desired generation: 0$/m)
  })

  it('push from stdin applies; diff then says in sync', async () => {
    const pushed = await svmctl(['push', '-'], JSON.stringify(labRouterConfig()))
    expect(pushed.exitCode, pushed.stderr).toBe(0)
    expect(pushed.stdout).toMatch(/^generation 1 applied/)
    const diff = await svmctl(['diff'])
    expect(diff).toMatchObject({ exitCode: 0, stdout: 'in sync\n' })
  })

  it('diff exits 1 and lists what drifted; resync repairs it', async () => {
    await h.lab.exec(h.lab.ns.rtr, 'iptables', ['-t', 'nat', '-F', 'SVM-POSTROUTING'])
    const drifted = await svmctl(['diff'])
    expect(drifted.exitCode).toBe(1)
    expect(drifted.stdout).toMatch(/difference\(s\) between the desired state and the kernel:\n {2}nat\/SVM-POSTROUTING: kernel lacks "[\s\S]*svm:srcnat:pub0 -j SNAT --to-source 203\.0\.113\.10"/)
    expect((await svmctl(['resync'])).stdout).toMatch(/^found \d+ problem\(s\); a full apply repaired them/)
    expect(await svmctl(['diff'])).toMatchObject({ exitCode: 0, stdout: 'in sync\n' })
  })

  it('item edits, a stale If-Match (exit 2) and a missing item (exit 2)', async () => {
    const rule = join(dir, 'rule.json')
    writeFileSync(rule, JSON.stringify({ id: 'fw-ssh', publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 22 } }))
    expect((await svmctl(['put', 'firewallRules', 'fw-ssh', rule, '--if-match', '1'])).stdout).toMatch(/^generation 2 applied/)
    expect(JSON.parse((await svmctl(['get', 'firewallRules', 'fw-ssh'])).stdout)).toMatchObject({ id: 'fw-ssh' })
    const stale = await svmctl(['delete', 'firewallRules', 'fw-ssh', '--if-match', '1'])
    expect(stale.exitCode).toBe(2)
    expect(stale.stderr).toMatch(/^svmctl: ERR_CONFLICT: /)
    expect((await svmctl(['delete', 'firewallRules', 'fw-ssh'])).stdout).toMatch(/^generation 3 applied/)
    const missing = await svmctl(['get', 'firewallRules', 'fw-ssh'])
    expect(missing).toMatchObject({ exitCode: 2, stderr: 'svmctl: ERR_NOT_FOUND: firewallRules/fw-ssh not found (HTTP 404)\n' })
  })

  it('a wrong token is refused (exit 2); an unreachable routerd is exit 1', async () => {
    const wrong = join(dir, 'wrong-token')
    writeFileSync(wrong, 'not-the-token-0123456789')
    const refused = await run(process.execPath, [SVMCTL, '--socket', socket, '--token-file', wrong, 'status'], { okCodes: [2] })
    expect(refused.stderr).toMatch(/^svmctl: ERR_UNAUTHORIZED: /)
    const away = await run(process.execPath, [SVMCTL, '--socket', join(dir, 'nothing.sock'), '--token-file', tokenFile, 'status'], { okCodes: [1] })
    expect(away.stderr).toMatch(/^svmctl: ERR_CLI_CONNECT: cannot reach routerd at unix:/)
  })
})
