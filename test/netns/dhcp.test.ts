import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_MACS, labRouterConfig } from '../../src/lab/lab.ts'
import { dhclient, udhcpc } from '../helpers/dhcp-clients.ts'
import { eventually } from '../helpers/router-harness.ts'
import { RouterdProcess } from '../helpers/routerd-process.ts'

const root = process.getuid?.() === 0
const STRANGER_MAC = '02:5e:00:00:09:99'

function dhcpConfig(): Record<string, any> {
  const config = labRouterConfig() as Record<string, any>
  config['interfaces'] = [
    ...config['interfaces'].map((i: { id: string }) => (i.id === 'guest1' ? { ...i, mtu: 1450 } : i)),
    { id: 'guest2', role: 'guest', mac: LAB_MACS.guest2 },
  ]
  config['guestNetworks'] = [
    { ...config['guestNetworks'][0], dhcp: { searchDomains: ['cloud.internal', 'corp.example'], ntpServers: ['10.1.1.1'], leaseSeconds: 3600, relays: ['10.1.1.10'] } },
    { id: 'net2', interface: 'guest2', cidr: '10.2.2.0/24', routerIp: '10.2.2.1', domain: 'two.internal', dhcp: { range: { start: '10.2.2.100', end: '10.2.2.100' }, leaseSeconds: 600 } },
  ]
  config['dhcpHosts'] = [
    { id: 'vm1', network: 'net1', mac: LAB_MACS.vm1, ip: '10.1.1.10', hostname: 'vm-one', dnsServers: ['192.0.2.53'], staticRoutes: [{ destination: '172.16.0.0/12', gateway: '10.1.1.254' }] },
    { id: 'vm2', network: 'net1', mac: LAB_MACS.vm2, ip: '10.1.1.11', hostname: 'vm-two', default: false },
  ]
  return config
}

describe.skipIf(!root)('DHCP server: real clients in guest namespaces', () => {
  let r: RouterdProcess
  let work: string
  let n = 0
  /** A fresh directory per client run (lease file, script, resolv.conf). */
  const scratch = () => { const d = join(work, `c${n++}`); mkdirSync(d); return d }
  const ns = () => r.lab.ns
  const flush = async (name: string) => {
    await r.lab.exec(name, 'ip', ['-4', 'addr', 'flush', 'dev', 'eth0'])
    await r.lab.exec(name, 'ip', ['-4', 'route', 'flush', 'dev', 'eth0'])
  }
  const setMac = (name: string, mac: string) => r.lab.exec(name, 'ip', ['link', 'set', 'dev', 'eth0', 'address', mac])
  const leases = () => r.leases()

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'dhcp-test-'))
    r = await RouterdProcess.create()
    await r.put(dhcpConfig())
    await flush(ns().vm1)
    await flush(ns().vm2)
  })
  afterAll(async () => {
    await r?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('udhcpc gets its static lease and every option: address, MTU, option-121 routes, DNS, domain, search', async () => {
    const c = await udhcpc(r.lab, ns().vm1, scratch())
    expect(c.exitCode, c.output).toBe(0)
    expect(c.env).toMatchObject({
      ip: '10.1.1.10', subnet: '255.255.255.0', broadcast: '10.1.1.255', router: '10.1.1.1', serverid: '10.1.1.1',
      dns: '10.1.1.1 192.0.2.53', domain: 'cloud.internal', search: 'cloud.internal corp.example', mtu: '1450',
      lease: '3600', hostname: 'vm-one', ntpsrv: '10.1.1.1', staticroutes: '172.16.0.0/12 10.1.1.254 0.0.0.0/0 10.1.1.1',
    })
    expect(c.addresses).toContain('inet 10.1.1.10/24 brd 10.1.1.255')
    expect(c.routes).toContain('default via 10.1.1.1 dev eth0')
    expect(c.routes).toContain('172.16.0.0/12 via 10.1.1.254 dev eth0')
    expect(c.resolv).toBe('domain cloud.internal\nsearch cloud.internal corp.example\nnameserver 10.1.1.1\nnameserver 192.0.2.53\n')
    expect((await r.lab.exec(ns().vm1, 'ip', ['link', 'show', 'dev', 'eth0'])).stdout).toContain('mtu 1450')
    expect(await leases()).toContainEqual(expect.objectContaining({ network: 'net1', mac: LAB_MACS.vm1, ip: '10.1.1.10', bound: true }))
  })

  it("dhclient with Debian's dhclient-script applies the same lease, its option-121 routes and resolver settings", async () => {
    await flush(ns().vm1)
    const c = await dhclient(r.lab, ns().vm1, scratch())
    expect(c.exitCode, c.output).toBe(0)
    expect(c.addresses).toContain('inet 10.1.1.10/24 brd 10.1.1.255')
    expect(c.routes).toContain('default via 10.1.1.1 dev eth0')
    expect(c.routes).toContain('172.16.0.0/12 via 10.1.1.254 dev eth0')
    // dhclient writes the search list as the absolute names it decoded.
    expect(c.resolv).toContain('search cloud.internal. corp.example.')
    expect(c.resolv).toContain('nameserver 10.1.1.1\nnameserver 192.0.2.53')
  })

  it('a non-default NIC gets its address but no gateway, DNS or domain', async () => {
    const c = await udhcpc(r.lab, ns().vm2, scratch())
    expect(c.exitCode, c.output).toBe(0)
    expect(c.addresses).toContain('inet 10.1.1.11/24')
    expect(c.routes).not.toContain('default')
    expect(c.env['router']).toBeUndefined()
    expect(c.env['dns']).toBeUndefined()
    expect(c.resolv).toBe('')
  })

  it('an unknown MAC gets nothing, and is counted', async () => {
    await flush(ns().vm2)
    await setMac(ns().vm2, STRANGER_MAC)
    try {
      const before = await r.metric('routerd_dhcp_outcomes_total', { outcome: 'ignored-unknown-client' })
      const c = await udhcpc(r.lab, ns().vm2, scratch())
      expect(c.exitCode).toBe(1)
      expect(c.addresses).toBe('')
      expect(await r.metric('routerd_dhcp_outcomes_total', { outcome: 'ignored-unknown-client' })).toBeGreaterThan(before)
    } finally {
      await setMac(ns().vm2, LAB_MACS.vm2)
    }
  })

  it('two networks on two links at once, each reply leaving by its own link', async () => {
    await flush(ns().vm1)
    const [one, two] = await Promise.all([udhcpc(r.lab, ns().vm1, scratch()), udhcpc(r.lab, ns().vm3, scratch())])
    expect(one.addresses).toContain('inet 10.1.1.10/24')
    expect(two.addresses, two.output).toContain('inet 10.2.2.100/24')
    expect(two.env).toMatchObject({ router: '10.2.2.1', serverid: '10.2.2.1', dns: '10.2.2.1', domain: 'two.internal', lease: '600' })
  })

  it('a changed address takes effect at once: the remembered one gets a NAK, then the new one is leased', async () => {
    await flush(ns().vm1)
    const dir = scratch()
    // dhclient remembers a lease of 10.1.1.77 and asks for it first (INIT-REBOOT).
    writeFileSync(join(dir, 'dhclient.leases'), `lease {\n  interface "eth0";\n  fixed-address 10.1.1.77;\n  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 10.1.1.1;\n  renew 4 2099/01/01 00:00:00;\n  rebind 4 2099/01/01 00:00:00;\n  expire 4 2099/01/01 00:00:00;\n}\n`)
    const naks = await r.metric('routerd_dhcp_outcomes_total', { outcome: 'nak' })
    const first = await dhclient(r.lab, ns().vm1, dir)
    expect(first.addresses, first.output).toContain('inet 10.1.1.10/24')
    expect(await r.metric('routerd_dhcp_outcomes_total', { outcome: 'nak' })).toBe(naks + 1)
    // The orchestrator moves vm1 to .20: the lease of .10 is void at once.
    const moved = dhcpConfig()['dhcpHosts'][0]
    expect((await r.api('PUT', '/v1/config/dhcpHosts/vm1', { ...moved, ip: '10.1.1.20' })).status).toBe(200)
    expect(await leases()).not.toContainEqual(expect.objectContaining({ mac: LAB_MACS.vm1 }))
    await r.lab.exec(ns().vm1, 'pkill', ['-f', `dhclient.*${dir}`], { okCodes: [0, 1] })
    await flush(ns().vm1)
    const second = await dhclient(r.lab, ns().vm1, dir)
    expect(second.addresses, second.output).toContain('inet 10.1.1.20/24')
    expect(await r.metric('routerd_dhcp_outcomes_total', { outcome: 'nak' })).toBe(naks + 2)
    await r.put(dhcpConfig())
  })

  it('dynamic leases survive a crash, and RELEASE frees the address for another client', async () => {
    await flush(ns().vm3)
    const dir = scratch()
    const first = await dhclient(r.lab, ns().vm3, dir)
    expect(first.addresses, first.output).toContain('inet 10.2.2.100/24')
    await r.kill()
    await r.start()
    // The only address of the range is still vm3's after the restart: a stranger gets nothing.
    await setMac(ns().vm3, STRANGER_MAC)
    const stranger = await udhcpc(r.lab, ns().vm3, scratch())
    expect(stranger.addresses).toBe('')
    await setMac(ns().vm3, LAB_MACS.vm3)
    const again = await udhcpc(r.lab, ns().vm3, scratch())
    expect(again.addresses).toContain('inet 10.2.2.100/24')
    // dhclient -r sends RELEASE; the address is free at once.
    await dhclient(r.lab, ns().vm3, dir, 'release')
    await eventually(async () => !(await leases()).some((l) => l.mac === LAB_MACS.vm3), 'the released lease to go')
    await flush(ns().vm3)
    await setMac(ns().vm3, STRANGER_MAC)
    try {
      const next = await udhcpc(r.lab, ns().vm3, scratch())
      expect(next.addresses, next.output).toContain('inet 10.2.2.100/24')
    } finally {
      await setMac(ns().vm3, LAB_MACS.vm3)
    }
  })

  it('answers through a relay agent (perfdhcp relaying from vm1: giaddr set, replies to the relay on port 67)', async () => {
    await flush(ns().vm1)
    await r.lab.exec(ns().vm1, 'ip', ['address', 'add', '10.1.1.10/24', 'dev', 'eth0'])
    const dir = scratch()
    writeFileSync(join(dir, 'macs'), `${LAB_MACS.vm1}\n${LAB_MACS.vm2}\n`)
    const acks = await r.metric('routerd_dhcp_outcomes_total', { outcome: 'ack' })
    const relayed = await r.metric('routerd_dhcp_relayed_total')
    // With a server address perfdhcp acts as a relay: unicast to the server, giaddr = its own address.
    const out = await r.lab.exec(ns().vm1, 'perfdhcp', ['-4', '-l', 'eth0', '-r', '20', '-n', '20', '-R', '2', '-M', join(dir, 'macs'), '10.1.1.1'],
      { timeoutMs: 60_000, okCodes: [0, 1, 2, 3] })
    const received = [...out.stdout.matchAll(/received packets: (\d+)/g)].map((m) => Number(m[1]))
    expect(received, out.stdout + out.stderr).toHaveLength(2)
    expect(received[0], out.stdout).toBeGreaterThanOrEqual(18) // OFFERs, relayed back
    expect(received[1], out.stdout).toBeGreaterThanOrEqual(18) // ACKs
    expect(await r.metric('routerd_dhcp_outcomes_total', { outcome: 'ack' })).toBeGreaterThanOrEqual(acks + 18)
    expect(await r.metric('routerd_dhcp_relayed_total')).toBeGreaterThanOrEqual(relayed + 36)
  })

  it('thousands of random and truncated datagrams are dropped and counted; service goes on', async () => {
    await flush(ns().vm1)
    await r.lab.exec(ns().vm1, 'ip', ['address', 'add', '10.1.1.10/24', 'dev', 'eth0'])
    // Short ones, cookie-less ones, and valid starts cut inside an option.
    const sender = `
      const s = require('node:dgram').createSocket('udp4');
      let seed = 7; const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
      const valid = Buffer.alloc(300); valid[0] = 1; valid[1] = 1; valid[2] = 6; valid.writeUInt32BE(0x63825363, 236);
      valid.set([53, 1, 1, 12, 200], 240);
      const packets = [];
      for (let i = 0; i < 1500; i++) packets.push(Buffer.from(Array.from({ length: rnd() % 240 }, rnd)));
      for (let i = 0; i < 1500; i++) packets.push(Buffer.from(Array.from({ length: 240 + rnd() }, rnd)));
      for (let i = 0; i < 1500; i++) packets.push(valid.subarray(0, 245 + (rnd() % 40)));
      let i = 0;
      // Bursts of 100, then a pause: a flood test of the socket buffer is not the point here.
      const next = () => { if (i === packets.length) { s.close(); return } s.send(packets[i++], 67, '10.1.1.1', () => (i % 100 === 0 ? setTimeout(next, 5) : setImmediate(next))) };
      next();`
    const before = await r.metric('routerd_dhcp_malformed_total')
    await r.lab.exec(ns().vm1, process.execPath, ['-e', sender], { timeoutMs: 60_000 })
    await eventually(async () => (await r.metric('routerd_dhcp_malformed_total')) - before === 4500, 'all 4,500 malformed datagrams to be counted')
    expect((await r.api('GET', '/healthz')).status).toBe(200)
    await flush(ns().vm1)
    const c = await udhcpc(r.lab, ns().vm1, scratch())
    expect(c.addresses).toContain('inet 10.1.1.10/24')
  })
})

describe.skipIf(!root)("the DHCP-only role (CloudStack's dhcpsrvr): no public side, the shared network's own gateway", () => {
  let r: RouterdProcess
  let work: string
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'dhcpsrvr-test-'))
    r = await RouterdProcess.create({ role: 'dhcpsrvr' })
    const lab = labRouterConfig() as Record<string, any>
    // Only the collections a dhcpsrvr has: the others are left out.
    await r.put({
      interfaces: lab['interfaces'].filter((i: { role: string }) => i.role !== 'public'),
      guestNetworks: [{ ...lab['guestNetworks'][0], dnsServers: ['192.0.2.53'], dhcp: { gateway: '10.1.1.254' }, dns: { enabled: false } }],
      dhcpHosts: [{ id: 'vm1', network: 'net1', mac: LAB_MACS.vm1, ip: '10.1.1.10', hostname: 'vm-one' }],
    })
    await r.lab.exec(r.lab.ns.vm1, 'ip', ['-4', 'addr', 'flush', 'dev', 'eth0'])
  })
  afterAll(async () => {
    await r?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('leases with the real gateway and the upstream resolvers; no DNAT and no source NAT', async () => {
    const c = await udhcpc(r.lab, r.lab.ns.vm1, work)
    expect(c.exitCode, c.output).toBe(0)
    expect(c.env).toMatchObject({ ip: '10.1.1.10', router: '10.1.1.254', dns: '192.0.2.53', serverid: '10.1.1.1' })
    expect(c.routes).toContain('default via 10.1.1.254 dev eth0')
    // The metadata address through this appliance (option 121, with the default route beside it).
    expect(c.env['staticroutes']).toBe('169.254.169.254/32 10.1.1.1 0.0.0.0/0 10.1.1.254')
    expect(c.routes).toContain('169.254.169.254 via 10.1.1.1 dev eth0')
  })

  it('owns only what it needs: filter INPUT, the metadata address in nat, no mangle or raw chains, forwarding off, no routes for router collections', async () => {
    for (const table of ['mangle', 'raw']) {
      expect((await r.lab.exec(r.lab.ns.rtr, 'iptables-save', ['-t', table])).stdout, table).not.toMatch(/SVM-/)
    }
    const nat = (await r.lab.exec(r.lab.ns.rtr, 'iptables-save', ['-t', 'nat'])).stdout.split('\n').filter((l) => l.startsWith('-A '))
    expect(nat).toEqual([
      '-A PREROUTING -j SVM-PREROUTING', '-A SVM-CANARY -j RETURN',
      '-A SVM-PREROUTING -d 169.254.169.254/32 -i eth1 -p tcp -m tcp --dport 80 -m comment --comment "svm:metadata:net1" -j DNAT --to-destination 10.1.1.1:80',
    ])
    const filter = (await r.lab.exec(r.lab.ns.rtr, 'iptables-save', ['-t', 'filter'])).stdout
    expect(filter).toMatch(/^-A INPUT -j SVM-INPUT$/m)
    expect(filter).not.toMatch(/SVM-FORWARD|SVM-EGR-/)
    expect((await r.lab.exec(r.lab.ns.rtr, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim()).toBe('0')
    const pf = await r.api('PUT', '/v1/config/portForwards/pf1', { id: 'pf1', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 22 }, privateIp: '10.1.1.10', privatePorts: { start: 22 } })
    expect(pf.status).toBe(404)
    const { config } = (await r.api('GET', '/v1/config')).body
    const refused = await r.api('PUT', '/v1/config', { ...config, publicIps: [{ id: 'ip', ip: '203.0.113.10', prefixLength: 24, interface: 'ctl' }] })
    expect(refused.status).toBe(400)
    expect(refused.body.error.diagnostics).toEqual([expect.objectContaining({ path: '/publicIps', code: 'ERR_NOT_IN_ROLE' })])
  })
})
