import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, createRunner, run, startProcess, type StartedProcess } from '../../src/core/exec.ts'
import { peerScript } from '../../src/lab/checkout.ts'
import { Daemon } from '../../src/lab/daemon.ts'
import { deleteNamespaces } from '../../src/lab/lab.ts'
import { httpUnix, TOKEN } from '../helpers/router-harness.ts'
import type { SecGroupDocument } from '../../src/router/secgroup/model.ts'
import { applySecGroups, NO_SECURITY_GROUPS, readSecGroupKernel } from '../../src/router/secgroup/kernel.ts'
import { secGroupDrift } from '../../src/router/secgroup/plan.ts'
import { renderSecGroups, type RenderedSecGroups, type SgChain } from '../../src/router/secgroup/render.ts'

/**
 * The security groups in a real kernel: a hypervisor host namespace with a bridge (bridge
 * netfilter on) and VM namespaces on veth "taps", renderings applied by the product's shell
 * (kernel.ts: `--noflush` restores of our own chains, jumps inserted at the head of FORWARD and
 * INPUT, sets swapped in, what is no longer rendered deleted, rollback on a refusal), beside
 * foreign rules that must stay as they were. Real packets: allowed and denied traffic per rule
 * type in v4 and v6, a remote group's membership, an established connection across re-applies,
 * and a VM spoofing its IP, its MAC, ARP and DHCP; drift found and repaired. (The role's engine
 * and API on these come next: issue 13.)
 */

const root = process.getuid?.() === 0
const id = `sg${randomBytes(2).toString('hex')}`
const NS = { host: `${id}-host`, web: `${id}-web`, db: `${id}-db`, out: `${id}-out` }
const MAC = { web: '52:54:00:12:34:56', db: '52:54:00:12:34:57', out: '52:54:00:12:34:99' }
const IP = { web: '10.1.0.10', db: '10.1.0.20', out: '10.1.0.99', web6: '2001:db8:1::10', db6: '2001:db8:1::20', out6: '2001:db8:1::99' }

function document(webGroups = ['web']): SecGroupDocument {
  return {
    ports: [
      { id: 'vm-web-1', device: 'vnet3', mac: MAC.web, ipv4: [IP.web], ipv6: [IP.web6], groups: webGroups },
      { id: 'vm-db-1', device: 'vnet4', mac: MAC.db, ipv4: [IP.db], ipv6: [IP.db6], groups: ['db'] },
    ],
    securityGroups: [{ id: 'web' }, { id: 'db' }],
    securityGroupRules: [
      { id: 'web-http', group: 'web', direction: 'ingress', protocol: 'tcp', ports: { start: 80 }, cidrs: ['0.0.0.0/0', '::/0'] },
      { id: 'web-ssh', group: 'web', direction: 'ingress', protocol: 'tcp', ports: { start: 22 }, cidrs: ['192.0.2.0/24'] },
      { id: 'web-ping', group: 'web', direction: 'ingress', protocol: 'icmp', icmpType: 8 },
      { id: 'web-ping6', group: 'web', direction: 'ingress', protocol: 'icmpv6', icmpType: 128, icmpCode: 0 },
      { id: 'db-from-web', group: 'db', direction: 'ingress', protocol: 'tcp', ports: { start: 5432, end: 5433 }, remoteGroup: 'web' },
      { id: 'db-out-web', group: 'db', direction: 'egress', protocol: 'tcp', ports: { start: 8080 }, cidrs: [`${IP.out}/32`] },
    ],
  }
}

const ip = (ns: string, ...args: string[]) => run(binary('ip'), ['-n', ns, ...args])
const inNs = (ns: string, file: string, args: string[], opts: { stdin?: string; okCodes?: number[] } = {}) => run(binary(file), args, { ...opts, netns: ns })

const runner = createRunner(NS.host)
/** What was applied last: the rollback target of the next apply. */
let applied: RenderedSecGroups | undefined

/** The first rendered chain whose name starts with `prefix`. */
function firstChain(chains: readonly SgChain[], prefix: string): string {
  const found = chains.find(([name]) => name.startsWith(prefix))
  if (found === undefined) throw new Error(`no ${prefix} chain rendered`)
  return found[0]
}

/** Applies a rendering with the product's shell (kernel.ts), as the role will. */
async function apply(r: RenderedSecGroups): Promise<void> {
  await applySecGroups(runner, r, applied)
  applied = r
}

/** A TCP connect from a namespace: open, refused or dropped (no answer in 2 s). */
async function connect(ns: string, host: string, port: number): Promise<'open' | 'refused' | 'dropped'> {
  const r = await run(binary('timeout'), ['2', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { netns: ns, okCodes: [0, 1, 124] })
  return r.exitCode === 0 ? 'open' : r.exitCode === 1 ? 'refused' : 'dropped'
}

/** The packet count of the owned rule tagged `svm:sg-drop:<tag>` (iptables or ip6tables). */
async function drops(tool: 'iptables' | 'ip6tables', tag: string): Promise<number> {
  const saved = (await inNs(NS.host, `${tool}-save`, ['-c', '-t', 'filter'])).stdout
  return saved.split('\n').filter((l) => l.includes(`svm:sg-drop:${tag}`)).reduce((sum, l) => sum + Number(/^\[(\d+):/.exec(l)?.[1] ?? 0), 0)
}

/** Every line of the host's rule sets that is not ours. */
async function foreign(): Promise<string> {
  const lines = async (tool: string, args: string[] = []) => (await inNs(NS.host, tool, args)).stdout.split('\n')
    .filter((l) => !l.startsWith('#') && !/SVM-SG|svm:sg/.test(l))
    // Counters, and ebtables' count of a chain's entries (our jump is one of them).
    .map((l) => l.replace(/\[\d+:\d+\]/, '').replace(/, entries: \d+/, ''))
  // A table that holds no rule of anyone's but ours (raw, made for our zone hooks) is not the host's.
  return [...await lines('iptables-save'), ...await lines('ip6tables-save'), ...await lines('ebtables-save')].join('\n')
    .replace(/^\*\w+\n(?::[A-Z]+ ACCEPT \n)*COMMIT\n/gm, '')
}

describe.skipIf(!root)('security groups in a real kernel (host bridge, VM namespaces, the renderer\'s output)', () => {
  const servers: StartedProcess[] = []
  let foreignBefore = ''

  function serve(ns: string, ports: string, bind?: string): Promise<void> {
    const p = startProcess(process.execPath, [peerScript(), 'serve', 'tcp', ports, ...(bind === undefined ? [] : [bind])], { netns: ns })
    servers.push(p)
    return (async () => {
      for (let i = 0; i < 100 && !p.output().includes('ready'); i++) await new Promise((ok) => setTimeout(ok, 20))
    })()
  }

  beforeAll(async () => {
    for (const ns of Object.values(NS)) {
      await run(binary('ip'), ['netns', 'add', ns])
      await ip(ns, 'link', 'set', 'lo', 'up')
    }
    await ip(NS.host, 'link', 'add', 'br0', 'type', 'bridge')
    await ip(NS.host, 'link', 'set', 'br0', 'up')
    await inNs(NS.host, 'sysctl', ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1', 'net.bridge.bridge-nf-call-arptables=1'])
    for (const [vm, tap] of [['web', 'vnet3'], ['db', 'vnet4'], ['out', 'vnet9']] as const) {
      await ip(NS.host, 'link', 'add', tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS[vm])
      await ip(NS.host, 'link', 'set', tap, 'master', 'br0', 'up')
      await ip(NS[vm], 'link', 'set', 'eth0', 'address', MAC[vm], 'up')
      await ip(NS[vm], 'addr', 'add', `${IP[vm]}/24`, 'dev', 'eth0')
      await ip(NS[vm], 'addr', 'add', `${IP[`${vm}6`]}/64`, 'dev', 'eth0', 'nodad')
    }
    // Foreign rules of the host (a libvirt-style chain, a host firewall rule) before ours.
    await inNs(NS.host, 'iptables', ['-N', 'LIBVIRT_FWI'])
    await inNs(NS.host, 'iptables', ['-A', 'LIBVIRT_FWI', '-d', '192.168.122.0/24', '-o', 'virbr0', '-j', 'ACCEPT'])
    await inNs(NS.host, 'iptables', ['-A', 'FORWARD', '-j', 'LIBVIRT_FWI'])
    await inNs(NS.host, 'iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '16509', '-j', 'ACCEPT'])
    await inNs(NS.host, 'ip6tables', ['-A', 'FORWARD', '-s', '2001:db8:ffff::/48', '-j', 'DROP'])
    await inNs(NS.host, 'ebtables', ['-A', 'FORWARD', '-i', 'vnet99', '-j', 'DROP'])
    foreignBefore = await foreign()
    // Dual-stack listeners (::), so v4 and v6 reach the same servers.
    await serve(NS.web, '80', '::')
    await serve(NS.web, '22', '::')
    await serve(NS.db, '5432-5434', '::')
    await serve(NS.out, '80', '::')
    await serve(NS.out, '8080', '::')
    await apply(renderSecGroups(document()))
  }, 60_000)

  afterAll(async () => {
    for (const p of servers) p.kill('SIGKILL')
    await deleteNamespaces(Object.values(NS))
  })

  it('ingress per rule: tcp port, source CIDR, icmp type; nothing else reaches the VM', async () => {
    expect(await connect(NS.out, IP.web, 80)).toBe('open')
    expect(await connect(NS.out, IP.web, 22)).toBe('dropped')
    expect((await inNs(NS.out, 'ping', ['-c', '1', '-W', '2', IP.web], { okCodes: [0, 1] })).exitCode).toBe(0)
    expect(await connect(NS.out, IP.db, 5432)).toBe('dropped')
    expect(await drops('iptables', 'vm-web-1:ingress')).toBeGreaterThan(0)
  })

  it('a remote group: members reach the port range, others do not', async () => {
    expect(await connect(NS.web, IP.db, 5432)).toBe('open')
    expect(await connect(NS.web, IP.db, 5433)).toBe('open')
    expect(await connect(NS.web, IP.db, 5434)).toBe('dropped')
  })

  it('egress: open without egress rules; with them, only what they allow', async () => {
    expect(await connect(NS.web, IP.out, 80)).toBe('open')
    expect(await connect(NS.db, IP.out, 8080)).toBe('open')
    expect(await connect(NS.db, IP.out, 80)).toBe('dropped')
    expect(await drops('iptables', 'vm-db-1:egress')).toBeGreaterThan(0)
  })

  it('IPv6: the tcp rule for ::/0 and icmpv6 echo pass (neighbour discovery works); the v4-only ssh rule does not open v6', async () => {
    expect(await connect(NS.out, IP.web6, 80)).toBe('open')
    expect((await inNs(NS.out, 'ping', ['-6', '-c', '1', '-W', '2', IP.web6], { okCodes: [0, 1] })).exitCode).toBe(0)
    expect(await connect(NS.out, IP.web6, 22)).toBe('dropped')
    expect(await connect(NS.web, IP.db6, 5432)).toBe('open')
  })

  it('membership: a VM leaving the group loses the access at once, joining gives it back; an established connection survives the re-applies', async () => {
    const keep = startProcess(process.execPath, [peerScript(), 'keep', 'tcp', `http://${IP.web}:80/`, '6'], { netns: NS.out })
    servers.push(keep)
    await new Promise((ok) => setTimeout(ok, 500))
    await apply(renderSecGroups(document(['db'])))
    expect(await connect(NS.web, IP.db, 5432)).toBe('dropped')
    await apply(renderSecGroups(document(['web'])))
    expect(await connect(NS.web, IP.db, 5432)).toBe('open')
    const code = await keep.exited
    expect(code, keep.output().slice(-300)).toBe(0)
  }, 20_000)

  it('spoofing from a VM gets nothing through: another source IP, another MAC, ARP for a neighbour\'s address, a DHCP server', async () => {
    // A source address that is not the port's (from web, whose egress is open).
    const spoofBefore = await drops('iptables', 'vm-web-1:spoof')
    await ip(NS.web, 'addr', 'add', '10.1.0.77/24', 'dev', 'eth0')
    const sink = startProcess(process.execPath, [peerScript(), 'sink', 'udp', '7000'], { netns: NS.out })
    servers.push(sink)
    await new Promise((ok) => setTimeout(ok, 300))
    await run(process.execPath, [peerScript(), 'send', 'udp', IP.out, '7000', '10.1.0.77'], { netns: NS.web })
    await run(process.execPath, [peerScript(), 'send', 'udp', IP.out, '7000', IP.web], { netns: NS.web })
    await new Promise((ok) => setTimeout(ok, 500))
    expect(sink.output()).toContain(`from ${IP.web}`)
    expect(sink.output()).not.toContain('from 10.1.0.77')
    expect(await drops('iptables', 'vm-web-1:spoof')).toBeGreaterThan(spoofBefore)
    await ip(NS.web, 'addr', 'del', '10.1.0.77/24', 'dev', 'eth0')

    // A gratuitous ARP claiming web's address: the neighbour keeps web's MAC.
    expect((await inNs(NS.out, 'ping', ['-c', '1', '-W', '2', IP.web], { okCodes: [0, 1] })).exitCode).toBe(0)
    await ip(NS.db, 'addr', 'add', `${IP.web}/32`, 'dev', 'eth0')
    await inNs(NS.db, 'arping', ['-U', '-c', '2', '-w', '2', '-I', 'eth0', '-s', IP.web, IP.web], { okCodes: [0, 1, 2] })
    await ip(NS.db, 'addr', 'del', `${IP.web}/32`, 'dev', 'eth0')
    expect((await ip(NS.out, 'neigh', 'show', IP.web)).stdout).toContain(MAC.web)
    expect((await inNs(NS.host, 'ebtables', ['-L', '--Lc'])).stdout).toMatch(/-p ARP -j DROP , pcnt = [1-9]/)

    // A DHCP server answer (source port 67) from the VM.
    const dhcpBefore = await drops('iptables', 'vm-web-1:dhcp-server')
    const client = startProcess(process.execPath, [peerScript(), 'sink', 'udp', '68'], { netns: NS.out })
    servers.push(client)
    await new Promise((ok) => setTimeout(ok, 300))
    await run(process.execPath, ['-e', `const s = require('dgram').createSocket('udp4'); s.bind(67, '${IP.web}', () => s.send('offer', 68, '${IP.out}', () => s.close()))`], { netns: NS.web })
    await new Promise((ok) => setTimeout(ok, 500))
    expect(client.output()).not.toContain('from')
    expect(await drops('iptables', 'vm-web-1:dhcp-server')).toBeGreaterThan(dhcpBefore)

    // Another MAC on the VM's port: every frame dropped by ebtables.
    await ip(NS.db, 'link', 'set', 'eth0', 'address', '52:54:00:de:ad:01')
    expect(await connect(NS.db, IP.out, 8080)).toBe('dropped')
    await ip(NS.db, 'link', 'set', 'eth0', 'address', MAC.db)
    await ip(NS.out, 'neigh', 'flush', 'dev', 'eth0')
    expect(await connect(NS.db, IP.out, 8080)).toBe('open')
  }, 30_000)

  it('what is applied shows no drift in iptables, ip6tables and ebtables; a chain flushed or edited by hand is found, and the next apply repairs it', async () => {
    const desired = renderSecGroups(document())
    await apply(desired)
    expect(secGroupDrift(desired, await readSecGroupKernel(runner))).toEqual([])
    const ingress = firstChain(desired.ipv4, 'SVM-SGI-')
    await inNs(NS.host, 'iptables', ['-F', ingress])
    await inNs(NS.host, 'ip6tables', ['-R', ingress, '1', '-j', 'ACCEPT'])
    await inNs(NS.host, 'ebtables', ['-D', 'FORWARD', '-j', 'SVM-SG-EB'])
    const drift = secGroupDrift(desired, await readSecGroupKernel(runner))
    expect(drift).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^iptables ${ingress}: 0 rules differ`)),
      expect.stringMatching(new RegExp(`^ip6tables ${ingress}: \\d+ rules differ`)),
      'ebtables FORWARD: the jump "-j SVM-SG-EB" is missing',
    ]))
    await apply(desired)
    expect(secGroupDrift(desired, await readSecGroupKernel(runner))).toEqual([])
  })

  it('a port removed takes its chains and jumps with it; a batch the kernel refuses leaves the previous rendering in force', async () => {
    const full = renderSecGroups(document())
    await apply(full)
    const withoutDb = renderSecGroups({ ...document(), ports: document().ports.filter((p) => p.id !== 'vm-db-1') })
    await apply(withoutDb)
    expect(secGroupDrift(withoutDb, await readSecGroupKernel(runner))).toEqual([])
    const names = (chains: readonly SgChain[]) => new Set(chains.map(([name]) => name))
    for (const [tool, before, after] of [['iptables-save', full.ipv4, withoutDb.ipv4], ['ip6tables-save', full.ipv6, withoutDb.ipv6], ['ebtables-save', full.ebtables, withoutDb.ebtables]] as const) {
      const kernel = new Set([...(await inNs(NS.host, tool, [])).stdout.matchAll(/^:(SVM-\S+)/gm)].map((m) => m[1] as string))
      const gone = [...names(before)].filter((c) => !names(after).has(c))
      expect(gone.length, tool).toBeGreaterThan(0)
      for (const c of gone) expect(kernel.has(c), `${tool} still has ${c}`).toBe(false)
      for (const c of names(after)) expect(kernel.has(c), `${tool} lacks ${c}`).toBe(true)
    }
    expect(await connect(NS.out, IP.db, 5432)).toBe('open') // no port of ours any more: the host's rules only
    // ebtables refuses the last batch: iptables and ip6tables already took it, and are taken back.
    const broken: RenderedSecGroups = { ...full, ebtables: full.ebtables.map(([name, rules]) => [name, name === 'SVM-SG-EB' ? [...rules, '--no-such-option'] : rules]) }
    await expect(apply(broken)).rejects.toMatchObject({ code: 'ERR_KERNEL_REJECTED' })
    applied = withoutDb
    expect(secGroupDrift(withoutDb, await readSecGroupKernel(runner))).toEqual([])
    await apply(full)
    expect(await connect(NS.out, IP.db, 5432)).toBe('dropped')
  })

  it('with no document, only the fixed chains and jumps stay (no set, no counter); a document again restores everything', async () => {
    await apply(NO_SECURITY_GROUPS)
    expect(secGroupDrift(NO_SECURITY_GROUPS, await readSecGroupKernel(runner))).toEqual([])
    expect((await inNs(NS.host, 'ipset', ['list', '-n'])).stdout).not.toMatch(/^svm-sg/m)
    expect((await inNs(NS.host, 'nfacct', ['list'])).stdout).not.toContain('svm-sgd-')
    await apply(renderSecGroups(document()))
    expect(await connect(NS.web, IP.db, 5432)).toBe('open')
    expect(await connect(NS.out, IP.db, 5432)).toBe('dropped')
  })

  it('the host\'s own rules and chains are as they were after every apply', async () => {
    await apply(renderSecGroups(document()))
    expect(await foreign()).toBe(foreignBefore)
    const forward = (await inNs(NS.host, 'iptables', ['-S', 'FORWARD'])).stdout.split('\n')
    expect(forward.filter((l) => l.includes('SVM-SG-FWD'))).toEqual(['-A FORWARD -j SVM-SG-FWD'])
    expect(forward[1]).toBe('-A FORWARD -j SVM-SG-FWD')
  })
  it('routerd in role secgroup: the document through the API, item edits, SIGKILL and restart, drift repaired, the host\'s rules untouched', async () => {
    // Start from none of ours: what the shell tests above applied is taken away.
    await apply(NO_SECURITY_GROUPS)
    applied = undefined
    const d = await Daemon.launch({ name: 'routerd', netns: NS.host, token: TOKEN, config: { role: 'secgroup', driftCheckSeconds: 0, logLevel: 'warn' } })
    try {
      const api = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown) => httpUnix(d.socket, method, path, body)
      const put = await api('PUT', '/v1/config', document())
      expect(put.status, JSON.stringify(put.body)).toBe(200)
      expect(await connect(NS.web, IP.db, 5432)).toBe('open')
      expect(await connect(NS.out, IP.db, 5432)).toBe('dropped')
      // One rule added by an item edit opens the port from outside.
      const rule = await api('PUT', '/v1/config/securityGroupRules/db-open', { id: 'db-open', group: 'db', direction: 'ingress', protocol: 'tcp', ports: { start: 5432 }, cidrs: [`${IP.out}/32`] })
      expect(rule.status, JSON.stringify(rule.body)).toBe(200)
      expect(await connect(NS.out, IP.db, 5432)).toBe('open')
      expect((await api('DELETE', '/v1/config/securityGroupRules/db-open')).status).toBe(200)
      expect(await connect(NS.out, IP.db, 5432)).toBe('dropped')
      // A spoofed source is dropped and counted per port and reason in /metrics (nfacct).
      await ip(NS.web, 'addr', 'add', '10.1.0.78/24', 'dev', 'eth0')
      await run(process.execPath, [peerScript(), 'send', 'udp', IP.out, '7000', '10.1.0.78'], { netns: NS.web })
      await ip(NS.web, 'addr', 'del', '10.1.0.78/24', 'dev', 'eth0')
      const metrics = String((await api('GET', '/metrics')).body)
      expect(Number(/^routerd_security_group_dropped_packets_total\{port="vm-web-1",reason="spoof"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0)
      expect(metrics).toMatch(/^routerd_security_group_dropped_packets_total\{port="vm-db-1",reason="arp-spoof"\} \d+$/m)
      // A router's collections are not this role's; a bad document changes nothing.
      expect((await api('PUT', '/v1/config/portForwards/x', {})).status).toBe(404)
      const bad = await api('PUT', '/v1/config/ports/vm-web-1', { ...document().ports[0], groups: ['nope'] })
      expect(bad.status).toBe(400)
      expect(bad.body.error.diagnostics.map((x: { code: string }) => x.code)).toEqual(['ERR_UNKNOWN_GROUP'])
      expect(await connect(NS.web, IP.db, 5432)).toBe('open')
      // Drift: a chain flushed by hand is found and repaired.
      const desired = renderSecGroups(document())
      const ingress = firstChain(desired.ipv4, 'SVM-SGI-')
      await inNs(NS.host, 'iptables', ['-F', ingress])
      expect((await api('GET', '/v1/diff')).body.differences.length).toBeGreaterThan(0)
      await api('POST', '/v1/resync')
      expect((await api('GET', '/v1/diff')).body.differences).toEqual([])
      // SIGKILL and restart: the same state, no drift.
      await d.kill()
      await d.start()
      expect((await api('GET', '/v1/diff')).body.differences).toEqual([])
      expect(await connect(NS.out, IP.db, 5432)).toBe('dropped')
      expect(await foreign()).toBe(foreignBefore)
    } finally {
      await d.close()
    }
  }, 60_000)
})
