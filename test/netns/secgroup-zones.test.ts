import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, createRunner, run, startProcess, type StartedProcess } from '../../src/core/exec.ts'
import { peerScript } from '../../src/lab/checkout.ts'
import { deleteNamespaces } from '../../src/lab/lab.ts'
import { applySecGroups, NO_SECURITY_GROUPS } from '../../src/router/secgroup/kernel.ts'
import type { SecGroupDocument } from '../../src/router/secgroup/model.ts'
import { renderSecGroups, type RenderedSecGroups } from '../../src/router/secgroup/render.ts'

/**
 * Two tenants on one hypervisor host reuse the same addresses on two bridges. Without conntrack
 * zones a connection of one tenant is the other's too: a datagram of tenant 2 that looks like the
 * reply of tenant 1's flow is ESTABLISHED and passes an ingress chain that allows nothing of the
 * kind. With a zone per bridge (ports' `bridge` and `zone`) each tenant's flows are its own.
 */

const root = process.getuid?.() === 0
const id = `sz${randomBytes(2).toString('hex')}`
const NS = { host: `${id}-host`, t1a: `${id}-t1a`, t1b: `${id}-t1b`, t2a: `${id}-t2a`, t2b: `${id}-t2b` }
const VM = {
  t1a: { tap: `${id}1a`, bridge: 'brt1', mac: '52:54:00:01:00:01', ip: '10.9.0.1' },
  t1b: { tap: `${id}1b`, bridge: 'brt1', mac: '52:54:00:01:00:02', ip: '10.9.0.2' },
  t2a: { tap: `${id}2a`, bridge: 'brt2', mac: '52:54:00:02:00:01', ip: '10.9.0.1' },
  t2b: { tap: `${id}2b`, bridge: 'brt2', mac: '52:54:00:02:00:02', ip: '10.9.0.2' },
} as const
const ZONE = { brt1: 101, brt2: 102 } as const

function document(zones: boolean): SecGroupDocument {
  return {
    ports: (Object.entries(VM) as [keyof typeof VM, typeof VM[keyof typeof VM]][]).map(([name, vm]) => ({
      id: name, device: vm.tap, mac: vm.mac, ipv4: [vm.ip], groups: [name.slice(0, 2)],
      ...(zones ? { bridge: vm.bridge, zone: ZONE[vm.bridge] } : {}),
    })),
    securityGroups: [{ id: 't1' }, { id: 't2' }],
    // DNS between members of a tenant; nothing else reaches a VM.
    securityGroupRules: [
      { id: 't1-dns', group: 't1', direction: 'ingress', protocol: 'udp', ports: { start: 53 }, remoteGroup: 't1' },
      { id: 't2-dns', group: 't2', direction: 'ingress', protocol: 'udp', ports: { start: 53 }, remoteGroup: 't2' },
    ],
  }
}

const ip = (ns: string, ...args: string[]) => run(binary('ip'), ['-n', ns, ...args])
const runner = createRunner(NS.host)
let applied: RenderedSecGroups | undefined

async function apply(r: RenderedSecGroups): Promise<void> {
  await applySecGroups(runner, r, applied)
  applied = r
}

/** One datagram from `ns`, from source port `sport`, to `host`:`port`. */
function sendFrom(ns: string, sport: number, host: string, port: number): Promise<unknown> {
  const script = 'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(("0.0.0.0",int(sys.argv[1])))\ns.sendto(b"x",(sys.argv[2],int(sys.argv[3])))'
  return run(binary('python3'), ['-c', script, String(sport), host, String(port)], { netns: ns })
}

describe.skipIf(!root)('conntrack zones: two tenants reusing addresses on one host', () => {
  const sinks: StartedProcess[] = []

  function sink(ns: string, port: number): StartedProcess {
    const p = startProcess(process.execPath, [peerScript(), 'sink', 'udp', String(port)], { netns: ns })
    sinks.push(p)
    return p
  }

  beforeAll(async () => {
    for (const ns of Object.values(NS)) {
      await run(binary('ip'), ['netns', 'add', ns])
      await ip(ns, 'link', 'set', 'lo', 'up')
    }
    for (const br of ['brt1', 'brt2']) {
      await ip(NS.host, 'link', 'add', br, 'type', 'bridge')
      await ip(NS.host, 'link', 'set', br, 'up')
    }
    await run(binary('sysctl'), ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1'], { netns: NS.host })
    // The host's own rule in raw, which our zones come and go beside.
    await run(binary('iptables'), ['-t', 'raw', '-A', 'PREROUTING', '-i', 'brt9', '-j', 'ACCEPT'], { netns: NS.host })
    for (const [name, vm] of Object.entries(VM) as [keyof typeof VM, typeof VM[keyof typeof VM]][]) {
      await ip(NS.host, 'link', 'add', vm.tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS[name])
      await ip(NS.host, 'link', 'set', vm.tap, 'master', vm.bridge, 'up')
      await ip(NS[name], 'link', 'set', 'eth0', 'address', vm.mac, 'up')
      await ip(NS[name], 'addr', 'add', `${vm.ip}/24`, 'dev', 'eth0')
    }
  }, 60_000)

  afterAll(async () => {
    for (const p of sinks) p.kill('SIGKILL')
    await applySecGroups(runner, NO_SECURITY_GROUPS, applied).catch(() => undefined)
    await deleteNamespaces(Object.values(NS))
  })

  /**
   * Tenant 1's VM a asks its neighbour b for DNS from port 4000 (allowed); then tenant 2's VM b
   * sends what looks like the answer (from 10.9.0.2:53 to 10.9.0.1:4000) to tenant 2's VM a, which
   * allows no such thing. Returns whether it got there.
   */
  async function crossTenantReplyArrives(sport: number): Promise<boolean> {
    const dns = sink(NS.t1b, 53)
    const victim = sink(NS.t2a, sport)
    await new Promise((ok) => setTimeout(ok, 300))
    await sendFrom(NS.t1a, sport, VM.t1b.ip, 53)
    for (let i = 0; i < 40 && !dns.output().includes('from'); i++) await new Promise((ok) => setTimeout(ok, 50))
    expect(dns.output()).toContain(`from ${VM.t1a.ip}`)
    await sendFrom(NS.t2b, 53, VM.t2a.ip, sport)
    await new Promise((ok) => setTimeout(ok, 500))
    dns.kill('SIGKILL')
    victim.kill('SIGKILL')
    return victim.output().includes('from')
  }

  it('without zones, tenant 2 gets a datagram through as the reply of tenant 1\'s flow (what the zones are for)', async () => {
    await apply(renderSecGroups(document(false)))
    expect(await crossTenantReplyArrives(4000)).toBe(true)
  })

  it('with a zone per bridge, tenant 1\'s flow is tracked in its zone and tenant 2\'s look-alike is dropped', async () => {
    await apply(renderSecGroups(document(true)))
    expect(await crossTenantReplyArrives(4001)).toBe(false)
    const zone1 = (await run(binary('conntrack'), ['-L', '-p', 'udp', '-w', String(ZONE.brt1)], { netns: NS.host, okCodes: [0, 1] })).stdout
    expect(zone1).toMatch(/src=10\.9\.0\.1 dst=10\.9\.0\.2 sport=4001 dport=53 .*zone=101/)
    const drops = (await run(binary('iptables-save'), ['-c', '-t', 'filter'], { netns: NS.host })).stdout
    expect(drops).toMatch(/^\[[1-9]\d*:\d+\] .*svm:sg-drop:t2a:ingress/m)
    // Within a tenant, replies still find their flow: the DNS answer comes back.
    const server = startProcess(binary('python3'), ['-c', [
      'import socket', 's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)', 's.bind(("0.0.0.0",53))', 'print("ready", flush=True)',
      'd,a=s.recvfrom(100)', 's.sendto(b"a",a)',
    ].join('\n')], { netns: NS.t1b })
    sinks.push(server)
    for (let i = 0; i < 60 && !server.output().includes('ready'); i++) await new Promise((ok) => setTimeout(ok, 50))
    const client = startProcess(binary('python3'), ['-c', [
      'import socket', 's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)', 's.settimeout(3)', 's.bind(("0.0.0.0",4002))',
      `s.sendto(b"q",("${VM.t1b.ip}",53))`, 'print("answer", s.recvfrom(100)[1][0], flush=True)',
    ].join('\n')], { netns: NS.t1a })
    sinks.push(client)
    for (let i = 0; i < 80 && !client.output().includes('answer'); i++) await new Promise((ok) => setTimeout(ok, 50))
    expect(client.output()).toContain(`answer ${VM.t1b.ip}`)
  })

  it('the zones are ours only: with the last zone gone our raw chains and jumps go, the host\'s raw rule stays', async () => {
    await apply(renderSecGroups(document(true)))
    const before = (await run(binary('iptables-save'), ['-t', 'raw'], { netns: NS.host })).stdout
    expect(before).toContain('-A PREROUTING -j SVM-SG-ZONE')
    await apply(renderSecGroups(document(false)))
    const raw = (await run(binary('iptables-save'), ['-t', 'raw'], { netns: NS.host })).stdout
    expect(raw).not.toContain('SVM-SG')
    expect(raw).toContain('-A PREROUTING -i brt9 -j ACCEPT')
  })
})
