import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, run } from '../../src/core/exec.ts'
import { LAB_ADDR, LAB_MACS, labRouterConfig } from '../../src/lab/lab.ts'
import { renderNetworkdLease, runCloudInit } from '../helpers/cloud-init.ts'
import { dhclient } from '../helpers/dhcp-clients.ts'
import { passwordRequest, setGuestPassword } from '../helpers/password-client.ts'
import { TOKEN } from '../helpers/router-harness.ts'
import { RouterdProcess } from '../helpers/routerd-process.ts'

/**
 * The clients real guests run, against routerd in the lab: cloud-init's CloudStack datasource
 * (finding the router by data-server in routerd's DNS, by a real dhclient lease from routerd's
 * DHCP, by networkd's lease field, by the default route) and the cloud-set-guest-password
 * exchange. The helpers themselves are proven against a stub in metadata-clients-stub.test.ts.
 */

const root = process.getuid?.() === 0
const ROUTER = LAB_ADDR.router
const ROUTER2 = '10.2.2.1'
const VM3 = '10.2.2.5'
const PASSWORD_VM1 = 'Pw-for-vm1 taken by cloud-init'
const PASSWORD_VM2 = 'Tr0ub4dor&3-vm2'
const KEYS = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne one@example', 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQTwo two@example']
/** #cloud-config followed by bytes that are not UTF-8: cloud-init must get them unchanged. */
const USER_DATA = Buffer.concat([Buffer.from('#cloud-config\nruncmd: [true]\n'), randomBytes(2000), Buffer.from([0x1f, 0x8b, 0xff, 0x00, 0x0d, 0x0a])])
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

function config(): Record<string, any> {
  const c = labRouterConfig() as Record<string, any>
  c['interfaces'] = [...c['interfaces'], { id: 'guest2', role: 'guest', mac: LAB_MACS.guest2 }]
  c['guestNetworks'] = [...c['guestNetworks'], { id: 'net2', interface: 'guest2', cidr: '10.2.2.0/24', routerIp: ROUTER2, domain: 'two.internal' }]
  c['staticNats'] = [{ id: 'sn-vm2', publicIp: '203.0.113.11', privateIp: LAB_ADDR.vm2 }]
  c['dhcpHosts'] = [
    { id: 'vm1', network: 'net1', mac: LAB_MACS.vm1, ip: LAB_ADDR.vm1, hostname: 'vm-one' },
    { id: 'vm2', network: 'net1', mac: LAB_MACS.vm2, ip: LAB_ADDR.vm2, hostname: 'vm-two' },
    { id: 'vm3', network: 'net2', mac: LAB_MACS.vm3, ip: VM3, hostname: 'vm-three' },
  ]
  // What CloudStack's management server sends (availability-zone among it: cloud-init 22.4 needs it).
  const md = (id: string) => ({ 'instance-id': `i-${id}`, 'vm-id': `uuid-${id}`, 'availability-zone': 'zone1', 'service-offering': 'small' })
  c['vmData'] = [
    { id: 'vm1', network: 'net1', ip: LAB_ADDR.vm1, userData: { sha256: sha(USER_DATA), size: USER_DATA.length }, metadata: { ...md('vm1'), 'public-keys': KEYS } },
    { id: 'vm2', network: 'net1', ip: LAB_ADDR.vm2, metadata: { ...md('vm2'), 'public-keys': [KEYS[0]] } },
    { id: 'vm3', network: 'net2', ip: VM3, metadata: md('vm3') },
  ]
  return c
}

describe.skipIf(!root)('guest clients against routerd: cloud-init\'s CloudStack datasource and cloud-set-guest-password', () => {
  let r: RouterdProcess
  let scratch: string
  const dir = () => mkdtempSync(join(scratch, 'guest-'))

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'metadata-clients-'))
    r = await RouterdProcess.create()
    // run() writes stdin as UTF-8 text, so the bytes go from a file.
    const file = join(scratch, 'user-data')
    writeFileSync(file, USER_DATA)
    const upload = await run(binary('curl'), [
      '-s', '-o', '/dev/null', '-w', '%{http_code}', '--unix-socket', r.socket, '-X', 'PUT', '-H', `Authorization: Bearer ${TOKEN}`,
      '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${file}`, `http://routerd/v1/user-data/${sha(USER_DATA)}`,
    ])
    expect(upload.stdout).toBe('201')
    await r.put(config())
  })
  afterAll(async () => {
    await r?.close()
    rmSync(scratch, { recursive: true, force: true })
  })

  it('finds data-server in routerd\'s DNS (search list, then the bare name) and fetches everything, the password included', async () => {
    expect((await r.api('PUT', `/v1/passwords/net1/${LAB_ADDR.vm1}`, { password: PASSWORD_VM1 })).status).toBe(204)
    const ci = await runCloudInit(r.lab.ns.vm1, dir(), { resolvConf: `nameserver ${ROUTER}\nsearch cloud.internal\n` })
    expect({ server: ci.server, via: ci.via, found: ci.found }, ci.log).toEqual({ server: ROUTER, via: 'data-server', found: true })
    expect(ci.instanceId).toBe('i-vm1')
    expect(ci.localHostname).toBe('vm-one')
    expect(ci.publicKeys).toEqual(KEYS)
    expect(ci.userData.equals(USER_DATA)).toBe(true)
    expect(ci.metadata).toMatchObject({ 'local-ipv4': LAB_ADDR.vm1, 'public-ipv4': '203.0.113.10', 'availability-zone': 'zone1', 'vm-id': 'uuid-vm1', 'service-offering': 'small' })
    // cloud-init fetched the password over 8080 and acknowledged it.
    expect(ci.password).toBe(PASSWORD_VM1)
    expect((await r.api('GET', `/v1/passwords/net1/${LAB_ADDR.vm1}`)).body).toEqual({ pending: false })

    const bare = await runCloudInit(r.lab.ns.vm1, dir(), { resolvConf: `nameserver ${ROUTER}\n` })
    expect({ server: bare.server, via: bare.via, found: bare.found, instanceId: bare.instanceId, password: bare.password }, bare.log)
      .toEqual({ server: ROUTER, via: 'data-server', found: true, instanceId: 'i-vm1', password: undefined })
  })

  it('with a real dhclient lease from routerd (network 2): the dhcp-server-identifier; with the resolver dhclient wrote, data-server first', async () => {
    const d = dir()
    const c = await dhclient(r.lab, r.lab.ns.vm3, d)
    expect(c.addresses, c.output).toContain(`${VM3}/24`)
    const lease = readFileSync(join(d, 'dhclient.leases'), 'utf8')
    expect(lease).toContain(`option dhcp-server-identifier ${ROUTER2};`)

    const byLease = await runCloudInit(r.lab.ns.vm3, d, { dhclientLease: lease })
    expect({ server: byLease.server, via: byLease.via, found: byLease.found }, byLease.log).toEqual({ server: ROUTER2, via: 'dhclient', found: true })
    expect({ instanceId: byLease.instanceId, localHostname: byLease.localHostname }).toEqual({ instanceId: 'i-vm3', localHostname: 'vm-three' })
    expect(byLease.userData.length).toBe(0)

    const byDns = await runCloudInit(r.lab.ns.vm3, d, { dhclientLease: lease, resolvConf: c.resolv })
    expect(c.resolv).toContain(`nameserver ${ROUTER2}`)
    expect({ server: byDns.server, via: byDns.via, instanceId: byDns.instanceId }, byDns.log).toEqual({ server: ROUTER2, via: 'data-server', instanceId: 'i-vm3' })

    // systemd-networkd's lease of the same answer: its SERVER_ADDRESS ranks above the dhclient file.
    const networkd = renderNetworkdLease({ address: VM3, serverAddress: ROUTER2, router: ROUTER2 })
    const byNetworkd = await runCloudInit(r.lab.ns.vm3, d, { dhclientLease: lease.replaceAll(ROUTER2, '10.2.2.99'), networkdLease: networkd })
    expect({ server: byNetworkd.server, via: byNetworkd.via, instanceId: byNetworkd.instanceId }, byNetworkd.log).toEqual({ server: ROUTER2, via: 'networkd', instanceId: 'i-vm3' })
  })

  it('with nothing but its default route (vm2, static address) it still reaches the router, and sees its static NAT address', async () => {
    const ci = await runCloudInit(r.lab.ns.vm2, dir())
    expect({ server: ci.server, via: ci.via, found: ci.found }, ci.log).toEqual({ server: ROUTER, via: 'gateway', found: true })
    expect({ instanceId: ci.instanceId, localHostname: ci.localHostname, publicKeys: ci.publicKeys }).toEqual({ instanceId: 'i-vm2', localHostname: 'vm-two', publicKeys: [KEYS[0]] })
    expect(ci.metadata['public-ipv4']).toBe('203.0.113.11')
    expect(ci.userData.length).toBe(0)
  })

  it('cloud-set-guest-password: the pending password, acknowledged; then saved_password; anything else a 400', async () => {
    expect((await r.api('PUT', `/v1/passwords/net1/${LAB_ADDR.vm2}`, { password: PASSWORD_VM2 })).status).toBe(204)
    // Another VM asking is told there is nothing for it.
    expect(await setGuestPassword(r.lab.ns.vm1, ROUTER)).toMatchObject({ outcome: 'saved', ack: undefined })
    expect(await setGuestPassword(r.lab.ns.vm2, ROUTER)).toEqual({
      request: { status: 200, body: PASSWORD_VM2, exitCode: 0 },
      outcome: 'password',
      password: PASSWORD_VM2,
      ack: { status: 200, body: 'saved_password', exitCode: 0 },
    })
    expect((await r.api('GET', `/v1/passwords/net1/${LAB_ADDR.vm2}`)).body).toEqual({ pending: false })
    expect(await setGuestPassword(r.lab.ns.vm2, ROUTER)).toEqual({ request: { status: 200, body: 'saved_password', exitCode: 0 }, outcome: 'saved', password: undefined, ack: undefined })
    expect(await passwordRequest(r.lab.ns.vm2, ROUTER, 'send_my_passwords')).toEqual({ status: 400, body: '', exitCode: 8 })
    expect(await passwordRequest(r.lab.ns.vm2, ROUTER, 'save_password', { contentOnError: true })).toEqual({ status: 400, body: 'bad_request', exitCode: 8 })
  })
})
