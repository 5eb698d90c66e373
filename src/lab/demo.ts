import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ApplianceError, errorCode, type CommandFailedError } from '../core/errors.ts'
import { binary, run, startProcess, type RunResult } from '../core/exec.ts'
import { peerScript } from './checkout.ts'
import { Daemon } from './daemon.ts'
import {
  DEMO_API_PORT, DEMO_DIR, DEMO_FIREWALL_PORT, DEMO_IPS, DEMO_NET2, DEMO_PREFIX,
  demoDaemonConfig, demoFirewallRule, demoRouterConfig,
} from './demo-config.ts'
import { CHAIN, CHAIN_PREFIX } from '../router/render/names.ts'
import { readDemoState, tearDownDemo, writeDemoState } from './demo-teardown.ts'
import { LAB_ADDR, Lab } from './lab.ts'

/**
 * `make demo`: routerd in a namespace lab, driven by svmctl, shown with real commands and their
 * real output. `node dist/lab/demo.js up` builds the lab, starts routerd detached inside the
 * router namespace, pushes a config and checks NAT, port forwarding and the firewall with curl;
 * the lab stays up for poking at. `node dist/lab/demo.js down` removes it. Each traffic step is
 * also checked: an unexpected answer fails the demo (and tears it down) rather than being shown.
 */

const HERE = fileURLToPath(new URL('.', import.meta.url))
const SVMCTL = join(HERE, '..', 'cli', 'svmctl.js')
const HOST = LAB_ADDR.internetHost

/** curl's exit codes for "no answer" (connect refused, timeout, empty reply, recv failure). */
const CURL_NO_ANSWER = [7, 28, 52, 56]

const print = (text = ''): void => { process.stdout.write(`${text}\n`) }
const section = (title: string): void => print(`\n== ${title} ==`)

/** A path as a person would type it from the current directory. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel !== '' && !rel.startsWith('..') ? rel : path
}

function quote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}

/** The command line as it would be typed, with node, system tools and our scripts named briefly. */
function displayArgv(ns: string | undefined, file: string, args: readonly string[]): string {
  const name = file === process.execPath ? 'node' : file.startsWith('/usr/') || file.startsWith('/bin/') || file.startsWith('/sbin/') ? basename(file) : file
  const parts = [...(ns === undefined ? [] : ['ip', 'netns', 'exec', ns]), name, ...args.map((a) => (a.startsWith('/') && existsSync(a) && !a.startsWith(DEMO_DIR) ? shown(a) : a))]
  return parts.map(quote).join(' ')
}

interface Shown extends RunResult { text: string }

/** Prints `$ <argv>`, runs it, prints its output (and a non-zero exit status), returns both. */
async function show(ns: string | undefined, file: string, args: readonly string[], okCodes: readonly number[] = [0]): Promise<Shown> {
  print(`$ ${displayArgv(ns, file, args)}`)
  const result = await run(file, args, { netns: ns, okCodes, timeoutMs: 30_000 })
  const text = `${result.stdout}${result.stderr}`
  if (text !== '') process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  if (result.exitCode !== 0) print(`[exit ${result.exitCode}]`)
  return { ...result, text }
}

/** `text` as a regular expression matching exactly it. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function expectAnswer(result: Shown, expected: string, what: string): void {
  if (result.exitCode !== 0 || result.stdout.trim() !== expected) {
    throw new ApplianceError('ERR_DEMO_CHECK', `${what}: expected "${expected}", got ${result.exitCode === 0 ? `"${result.stdout.trim()}"` : `exit ${result.exitCode}`}`)
  }
}

function expectNoAnswer(result: Shown, what: string): void {
  if (result.exitCode === 0) throw new ApplianceError('ERR_DEMO_CHECK', `${what}: expected no answer, got "${result.stdout.trim()}"`)
}

function expectText(result: Shown, pattern: RegExp, what: string): void {
  if (!pattern.test(result.text)) throw new ApplianceError('ERR_DEMO_CHECK', `${what}: output does not match ${pattern}`)
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms))
}

class Demo {
  private routerd: Daemon | undefined
  private readonly tokenFile = join(DEMO_DIR, 'routerd.token')

  constructor(private readonly lab: Lab) {}

  private svmctl(args: readonly string[], okCodes: readonly number[] = [0]): Promise<Shown> {
    return show(this.lab.ns.rtr, process.execPath, [SVMCTL, '--token-file', this.tokenFile, ...args], okCodes)
  }

  private curl(ns: string, url: string, from?: string): Promise<Shown> {
    const bind = from === undefined ? [] : ['--interface', from]
    return show(ns, binary('curl'), ['-s', '--max-time', '2', ...bind, url], [0, ...CURL_NO_ANSWER])
  }

  /**
   * Starts routerd as its unit does (lab/daemon.ts), detached in the router namespace with its
   * files in DEMO_DIR, and waits for /healthz. The token is written to the demo's token file.
   */
  async startRouterd(): Promise<void> {
    const logFile = join(DEMO_DIR, 'routerd.log')
    const routerd = Daemon.prepare({ name: 'routerd', netns: this.lab.ns.rtr, dir: DEMO_DIR, config: demoDaemonConfig(DEMO_DIR), logFile, timeoutMs: 15_000 })
    print(`$ ${displayArgv(this.lab.ns.rtr, process.execPath, routerd.argv)} >${logFile} 2>&1 &`)
    try {
      await routerd.start()
    } catch (err) {
      throw new ApplianceError('ERR_DEMO_ROUTERD', err instanceof Error ? err.message : String(err), { cause: err })
    }
    this.routerd = routerd
    writeDemoState(DEMO_DIR, { labId: this.lab.id, routerdPid: routerd.pid, startedAt: new Date().toISOString() })
    await show(this.lab.ns.rtr, binary('curl'), ['-s', '--max-time', '1', `http://127.0.0.1:${DEMO_API_PORT}/healthz`])
  }

  /** Starts a peer HTTP server (answers "<client ip> <port>") detached, so it outlives this process. */
  async serve(ns: string, port: number, bind?: string): Promise<void> {
    const args = [peerScript(), 'serve', 'tcp', String(port), ...(bind === undefined ? [] : [bind])]
    const logFile = join(DEMO_DIR, `peer-${ns}-${port}.log`)
    print(`$ ${displayArgv(ns, process.execPath, args)} &`)
    const p = startProcess(process.execPath, args, { netns: ns, detachedLogFile: logFile })
    let exited = false
    void p.exited.then(() => { exited = true })
    for (let i = 0; i < 100 && !exited; i++) {
      if (existsSync(logFile) && readFileSync(logFile, 'utf8').includes('ready')) return
      await sleep(50)
    }
    throw new ApplianceError('ERR_DEMO_PEER', `the test server in ${ns} on port ${port} did not start`)
  }

  async run(): Promise<void> {
    const { ns } = this.lab
    section(`lab ${this.lab.id}: routerd in ${ns.rtr}, "the internet" in ${ns.inet} (${HOST}), guests ${ns.vm1} (${LAB_ADDR.vm1}) and ${ns.vm2} (${LAB_ADDR.vm2}), and ${ns.vm3} on a second guest network (no address yet)`)
    await this.startRouterd()

    section('push a config: source NAT, a static NAT for vm2 (tcp/80 open), a port forward to vm1')
    const configFile = join(DEMO_DIR, 'router-config.json')
    writeFileSync(configFile, `${JSON.stringify(demoRouterConfig(), null, 2)}\n`)
    expectText(await this.svmctl(['push', configFile]), /^generation 1 applied/m, 'svmctl push')
    expectText(await this.svmctl(['status']), /applied generation:\s+1 /, 'svmctl status')

    section('test servers (each answers "<client address> <port>")')
    await this.serve(ns.inet, 80, HOST)
    await this.serve(ns.vm1, 80)
    await this.serve(ns.vm2, 80)
    await this.serve(ns.vm2, DEMO_FIREWALL_PORT)

    section(`(a) guest -> internet through source NAT: the server sees ${DEMO_IPS.sourceNat}`)
    expectAnswer(await this.curl(ns.vm1, `http://${HOST}/`), `${DEMO_IPS.sourceNat} 80`, 'source NAT')

    section(`(b) static NAT ${DEMO_IPS.staticNat} <-> vm2 ${LAB_ADDR.vm2}, both ways`)
    expectAnswer(await this.curl(ns.vm2, `http://${HOST}/`), `${DEMO_IPS.staticNat} 80`, 'static NAT out')
    expectAnswer(await this.curl(ns.inet, `http://${DEMO_IPS.staticNat}/`, HOST), `${HOST} 80`, 'static NAT in')
    expectText(await show(ns.rtr, binary('conntrack'), ['-L', '-p', 'tcp', '--orig-dst', DEMO_IPS.staticNat]),
      new RegExp(`src=${literal(LAB_ADDR.vm2)} `), 'conntrack shows the static NAT reaching vm2')

    section(`(c) port forward ${DEMO_IPS.portForward}:8080 -> vm1 ${LAB_ADDR.vm1}:80`)
    expectAnswer(await this.curl(ns.inet, `http://${DEMO_IPS.portForward}:8080/`, HOST), `${HOST} 80`, 'port forward')
    expectText(await show(ns.rtr, binary('conntrack'), ['-L', '-p', 'tcp', '--orig-dst', DEMO_IPS.portForward]),
      new RegExp(`src=${literal(LAB_ADDR.vm1)} `), 'conntrack shows the port forward reaching vm1')

    section(`(d) a firewall rule opens tcp/${DEMO_FIREWALL_PORT} on ${DEMO_IPS.staticNat}, then closes it again`)
    const url = `http://${DEMO_IPS.staticNat}:${DEMO_FIREWALL_PORT}/`
    expectNoAnswer(await this.curl(ns.inet, url, HOST), 'closed port before the rule')
    const rule = demoFirewallRule()
    const ruleFile = join(DEMO_DIR, `${rule.id}.json`)
    writeFileSync(ruleFile, `${JSON.stringify(rule)}\n`)
    await show(undefined, binary('cat'), [ruleFile])
    expectText(await this.svmctl(['put', 'firewallRules', rule.id, ruleFile]), /^generation 2 applied/m, 'svmctl put')
    expectAnswer(await this.curl(ns.inet, url, HOST), `${HOST} ${DEMO_FIREWALL_PORT}`, 'port opened by the firewall rule')
    expectText(await this.svmctl(['delete', 'firewallRules', rule.id]), /^generation 3 applied/m, 'svmctl delete')
    expectNoAnswer(await this.curl(ns.inet, url, HOST), 'port after the rule was deleted')

    section('routerd: status, kernel vs desired state, and the nat table it wrote')
    expectText(await this.svmctl(['status']), /applied generation:\s+3 /, 'svmctl status')
    expectText(await this.svmctl(['diff']), /^in sync$/m, 'svmctl diff')
    await this.showNatExcerpt()

    section(`(e) vm3 on the second guest network gets its address by DHCP (${DEMO_NET2.vm3}) and names by DNS`)
    // -s /bin/true: udhcpc only reports the lease here; the address is set by hand below, so no
    // script of the host's ever touches its /etc/resolv.conf.
    expectText(await show(ns.vm3, binary('busybox'), ['udhcpc', '-i', 'eth0', '-q', '-n', '-t', '3', '-s', '/bin/true']),
      new RegExp(`lease of ${literal(DEMO_NET2.vm3)} obtained from ${literal(DEMO_NET2.router)}`), 'DHCP lease for vm3')
    await show(ns.vm3, binary('ip'), ['address', 'add', `${DEMO_NET2.vm3}/24`, 'dev', 'eth0'])
    await show(ns.vm3, binary('ip'), ['route', 'add', 'default', 'via', DEMO_NET2.router])
    expectText(await show(ns.vm3, binary('dig'), ['+short', `@${DEMO_NET2.router}`, `vm-three.${DEMO_NET2.domain}`]), new RegExp(`^${literal(DEMO_NET2.vm3)}$`, 'm'), 'vm3 resolves its own name')
    expectText(await show(ns.vm1, binary('dig'), ['+short', `@${LAB_ADDR.router}`, '-x', LAB_ADDR.vm2]), /^vm-two\.cloud\.internal\.$/m, 'vm1 resolves vm2 by address')
    expectAnswer(await this.curl(ns.vm3, `http://${HOST}/`), `${DEMO_IPS.sourceNat} 80`, 'vm3 reaches the internet through source NAT')
  }

  /** `iptables-save -t nat` in the router, cut to the rules that mention the demo's addresses. */
  private async showNatExcerpt(): Promise<void> {
    const ns = this.lab.ns.rtr
    print(`$ ${displayArgv(ns, binary('iptables-save'), ['-t', 'nat'])}   # excerpt: the rules in routerd's chains`)
    const r = await run(binary('iptables-save'), ['-t', 'nat'], { netns: ns })
    const lines = r.stdout.split('\n').filter((l) => l.startsWith(`-A ${CHAIN_PREFIX}`) && !l.startsWith(`-A ${CHAIN.canary}`))
    if (!lines.some((l) => l.includes('DNAT')) || !lines.some((l) => l.includes('SNAT'))) {
      throw new ApplianceError('ERR_DEMO_CHECK', 'the nat table has no DNAT/SNAT rules for the demo addresses')
    }
    print(lines.join('\n'))
  }

  /** Prints how to look around in the running lab. */
  printEpilogue(): void {
    const { ns } = this.lab
    const svmctl = displayArgv(ns.rtr, process.execPath, [SVMCTL, '--token-file', this.tokenFile])
    section(`the lab is up (state in ${join(DEMO_DIR, 'state.json')}); poke at it:`)
    print(`  ${displayArgv(ns.vm1, binary('curl'), ['-s', `http://${HOST}/`])}`)
    print(`  ${displayArgv(ns.inet, binary('curl'), ['-s', '--interface', HOST, `http://${DEMO_IPS.portForward}:8080/`])}`)
    print(`  ${displayArgv(ns.vm3, binary('dig'), [`@${DEMO_NET2.router}`, `vm-three.${DEMO_NET2.domain}`])}`)
    // Printed by hand: the token is read by the reader's shell.
    print(`  ip netns exec ${ns.rtr} curl -s -H "Authorization: Bearer $(cat ${this.tokenFile})" http://127.0.0.1:${DEMO_API_PORT}/v1/dhcp/leases`)
    print(`  ${svmctl} get portForwards`)
    print(`  ${displayArgv(ns.rtr, binary('iptables-save'), [])}`)
    print(`  ${displayArgv(ns.rtr, binary('ip'), ['addr'])}`)
    print(`  less ${join(DEMO_DIR, 'routerd.log')}     # routerd's log (pino JSON)`)
    print('  make demo-down                             # remove it all')
  }

  async fail(): Promise<void> {
    await this.routerd?.stop(2_000)
    await this.lab.destroy()
    rmSync(join(DEMO_DIR, 'state.json'), { force: true })
  }
}

async function up(): Promise<void> {
  const previous = readDemoState(DEMO_DIR)
  const removed = await tearDownDemo(DEMO_DIR)
  if (removed.length > 0) print(`removed the previous demo lab${previous === undefined ? '' : ` ${previous.labId}`}`)
  mkdirSync(DEMO_DIR, { recursive: true, mode: 0o700 })
  const lab = await Lab.create(DEMO_PREFIX)
  writeDemoState(DEMO_DIR, { labId: lab.id, routerdPid: null, startedAt: new Date().toISOString() })
  const demo = new Demo(lab)
  try {
    await demo.run()
  } catch (err) {
    await demo.fail()
    throw err
  }
  demo.printEpilogue()
}

async function down(): Promise<void> {
  const state = readDemoState(DEMO_DIR)
  const removed = await tearDownDemo(DEMO_DIR)
  if (removed.length > 0) print(`removed demo lab ${state?.labId ?? ''} (${removed.join(' ')})`)
}

function describeError(err: unknown): string {
  const code = errorCode(err) ?? 'ERR_INTERNAL'
  const message = err instanceof Error ? err.message : String(err)
  const stderr = code === 'ERR_COMMAND_FAILED' ? (err as CommandFailedError).stderr.trim() : ''
  return `demo: ${code}: ${message}${stderr === '' || message.includes(stderr) ? '' : `\n${stderr}`}`
}

async function main(argv: readonly string[]): Promise<number> {
  const [action] = argv
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: needs root (network namespaces, iptables)\n')
    return 1
  }
  if (action === 'up') await up()
  else if (action === 'down') await down()
  else {
    process.stderr.write('usage: node dist/lab/demo.js up|down\n')
    return 2
  }
  return 0
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (err: unknown) => {
    process.stderr.write(`${describeError(err)}\n`)
    if (existsSync(join(DEMO_DIR, 'routerd.log'))) process.stderr.write(`routerd's log: ${join(DEMO_DIR, 'routerd.log')}\n`)
    process.exitCode = 1
  },
)
