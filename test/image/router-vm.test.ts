import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startProcess } from '../../src/core/exec.ts'
import { peerScript } from '../../src/lab/checkout.ts'
import { ControlLink, ImageVm, imageBuilt, leaseIn, orchestratorKey } from '../../src/lab/image-vm.ts'

/**
 * The built image as a router VM under QEMU (TCG, 256 MB), its role and addresses from the boot
 * line, its three NICs taps on bridges of the test's namespace: a guest namespace on the guest
 * link, the lab's internet host on the public link, the test itself (the orchestrator) on the
 * control link. Everything is asked of the VM the way the management server and guests would:
 * the API over the control link, SSH on 3922 with the boot line's key, DHCP, DNS and NAT with
 * real clients.
 */

const root = process.getuid?.() === 0
const CONTROL = '169.254.3.14'
const GUEST_MAC = '02:00:0a:01:01:14'
const GUEST_IP = '10.1.1.20'
const INET = '203.0.113.1'
const PUBLIC = '203.0.113.10'
const BOOT_MS = 300_000
/** The VM's NICs: eth0 guest, eth1 control, eth2 public. */
const VM_MACS = ['1e:00:0a:01:01:01', '0e:00:a9:fe:03:0e', '1e:00:cb:00:71:0a'] as const

/** The EUI-64 link-local address of a MAC (the kernel's default on a new link). */
function linkLocal(mac: string): string {
  const b = mac.split(':').map((h) => Number.parseInt(h, 16))
  const words = [((b[0]! ^ 0x02) << 8) | b[1]!, (b[2]! << 8) | 0xff, (0xfe << 8) | b[3]!, (b[4]! << 8) | b[5]!]
  return `fe80::${words.map((w) => w.toString(16)).join(':')}`
}

describe.skipIf(!root)('the image as a router VM (QEMU TCG, 256 MB)', () => {
  let vm: ImageVm
  let dir: string
  let guest: string
  const id = `iv${process.pid % 10000}`

  let control: ControlLink
  const ssh = (command: string) => control.ssh(command)
  const api = (method: string, path: string, body?: unknown) => control.api(method, path, body)
  const ready = () => control.ready()

  beforeAll(async () => {
    if (!imageBuilt()) throw new Error('build/image is missing: make image (make test builds it)')
    dir = mkdtempSync(join(tmpdir(), 'router-vm-'))
    const { keyFile, authorizedKey } = await orchestratorKey(dir)
    vm = await ImageVm.create(id, [
      { index: 0, mac: VM_MACS[0] },
      { index: 1, mac: VM_MACS[1], hvAddress: '169.254.0.1/16' },
      { index: 2, mac: VM_MACS[2] },
    ])
    control = new ControlLink(vm, CONTROL, keyFile)
    guest = await vm.attach('g1', 0, GUEST_MAC)
    const inet = await vm.attach('in', 2, '02:00:cb:00:71:01', `${INET}/24`)
    const server = startProcess(process.execPath, [peerScript(), 'serve', 'tcp', '80'], { netns: inet })
    for (let i = 0; i < 100 && !server.output().includes('ready'); i++) await new Promise((r) => setTimeout(r, 20))
    vm.boot([
      'template=domP type=router name=r-7-VM', 'eth0ip=10.1.1.1 eth0mask=255.255.255.0',
      `eth1ip=${CONTROL} eth1mask=255.255.0.0`, `eth2ip=${PUBLIC} eth2mask=255.255.255.0 gateway=${INET}`,
      'domain=vmtest.internal cidrsize=24 dhcprange=10.1.1.1', `dns1=${INET}`, `authorized_key=${authorizedKey}`,
    ].join(' '))
  }, 120_000)
  afterAll(async () => {
    await vm?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('boots to a ready control API on the control link, the boot line translated by systemvm-boot', async () => {
    await vm.until('routerd ready on the control link', BOOT_MS, ready)
    expect(vm.console()).toContain('systemvm-boot: type=router from /proc/cmdline: r-7-VM, routerd (router)')
  }, BOOT_MS + 10_000)

  it('sshd answers on 3922 on the control link only, with the boot line\'s key; the API token is read over it', async () => {
    // sshd starts after routerd is ready (it binds the control address routerd sets).
    expect(await control.readToken()).toMatch(/^[0-9a-f]{64}$/)
    expect(await ssh('hostname')).toBe('r-7-VM\n')
    expect(await ssh('cat /etc/cloudstack-release')).toMatch(/^Cloudstack Release \S+ /)
    const listening = await ssh('ss -Htln')
    expect(listening).toContain(`${CONTROL}:3922`)
    expect(listening).not.toMatch(/(0\.0\.0\.0|\*|\[::\]):3922/)
    expect((await api('GET', '/v1/status')).status).toBe(200)
  }, 120_000)

  it('a guest gets its lease and its name from the VM (DHCP, DNS), and reaches the internet host through source NAT', async () => {
    const host = { id: 'g1', network: 'guest', mac: GUEST_MAC, ip: GUEST_IP, hostname: 'guest-one' }
    const put = await api('PUT', '/v1/config/dhcpHosts/g1', host)
    expect(put.status, put.body).toBe(200)
    expect(await leaseIn(vm, guest, dir)).toContain(`bound ${GUEST_IP} router 10.1.1.1 dns 10.1.1.1 domain vmtest.internal`)
    const answer = await vm.exec(guest, 'dig', ['+short', '+time=3', '+tries=2', '@10.1.1.1', 'guest-one.vmtest.internal'])
    expect(answer.stdout.trim()).toBe(GUEST_IP)
    const web = await vm.exec(guest, 'curl', ['-s', '--max-time', '10', `http://${INET}/`])
    expect(web.stdout).toBe(`${PUBLIC} 80\n`)
  }, 120_000)

  it('a port forward from the public side reaches the guest', async () => {
    const server = startProcess(process.execPath, [peerScript(), 'serve', 'tcp', '8080'], { netns: guest })
    for (let i = 0; i < 100 && !server.output().includes('ready'); i++) await new Promise((r) => setTimeout(r, 20))
    const forward = { id: 'pf1', publicIp: PUBLIC, protocol: 'tcp', publicPorts: { start: 2222 }, privateIp: GUEST_IP, privatePorts: { start: 8080 } }
    const put = await api('PUT', '/v1/config/portForwards/pf1', forward)
    expect(put.status, put.body).toBe(200)
    const answer = await vm.exec(`${id}-in`, 'curl', ['-s', '--max-time', '10', `http://${PUBLIC}:2222/`])
    expect(answer.stdout).toBe(`${INET} 8080\n`)
  }, 60_000)

  it('metadata is served to the guest, at the router and at 169.254.169.254', async () => {
    const put = await api('PUT', '/v1/config/vmData/g1', { id: 'g1', network: 'guest', ip: GUEST_IP, metadata: { 'instance-id': 'i-2-20-VM', 'vm-id': 'uuid-20' } })
    expect(put.status, put.body).toBe(200)
    const get = async (url: string) => (await vm.exec(guest, 'curl', ['-s', '--max-time', '10', url])).stdout
    expect(await get('http://10.1.1.1/latest/meta-data/instance-id')).toBe('i-2-20-VM')
    expect(await get('http://10.1.1.1/latest/meta-data/local-hostname')).toBe('guest-one')
    expect(await get('http://169.254.169.254/latest/meta-data/vm-id')).toBe('uuid-20')
  }, 60_000)

  it('IPv6 reaches the VM on the control link only: not from the guest or the public side', async () => {
    const vmGuestLink = linkLocal(VM_MACS[0])
    const vmControlLink = linkLocal(VM_MACS[1])
    const ping = (ns: string, address: string, dev: string) => vm.exec(ns, 'ping', ['-6', '-c', '2', '-W', '2', `${address}%${dev}`], { okCodes: [0, 1, 2] })
    const fromControl = await ping(vm.hv, vmControlLink, 'br1')
    expect(fromControl.exitCode, fromControl.stdout + fromControl.stderr).toBe(0)
    expect((await ping(guest, vmGuestLink, 'eth0')).exitCode).not.toBe(0)
    expect((await ping(`${id}-in`, linkLocal(VM_MACS[2]), 'eth0')).exitCode).not.toBe(0)
    // Whatever listens on every IPv6 address in the VM (rpcbind's port 111, from nfs-common) is
    // reachable over the control link and from nowhere else.
    const wildcard = (await ssh('ss -Hltn')).split('\n').map((l) => /\[::\]:(\d+)|\*:(\d+)/.exec(l)).find((m) => m !== null)
    expect(wildcard, 'a TCP port bound to [::] in the VM').toBeDefined()
    const port = wildcard?.[1] ?? wildcard?.[2] ?? ''
    const connect = (ns: string, address: string, dev: string) => vm.exec(ns, 'nc', ['-6', '-z', '-w', '3', `${address}%${dev}`, port], { okCodes: [0, 1] })
    expect((await connect(vm.hv, vmControlLink, 'br1')).exitCode).toBe(0)
    expect((await connect(guest, vmGuestLink, 'eth0')).exitCode).toBe(1)
    // Over IPv4 routerd's own firewall keeps it from the guest too.
    expect((await vm.exec(guest, 'nc', ['-z', '-w', '3', '10.1.1.1', port], { okCodes: [0, 1] })).exitCode).toBe(1)
  }, 60_000)

  it('routerd runs sandboxed: only the network capabilities, the file system read-only but its state', async () => {
    const pid = (await ssh('systemctl show -p MainPID --value routerd')).trim()
    // CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13).
    expect(await ssh(`grep CapBnd /proc/${pid}/status`)).toBe('CapBnd:\t0000000000003400\n')
    const probe = (path: string) => ssh(`nsenter -t ${pid} -m sh -c 'touch ${path} && rm ${path} && echo writable || echo read-only' 2>/dev/null`)
    expect(await probe('/etc/routerd-probe')).toBe('read-only\n')
    expect(await probe('/opt/systemvm/routerd-probe')).toBe('read-only\n')
    expect(await probe('/var/lib/routerd/probe')).toBe('writable\n')
  }, 60_000)

  it('routerd killed inside the VM is restarted by systemd with its state', async () => {
    const before = JSON.parse((await api('GET', '/v1/status')).body) as { appliedGeneration: number }
    const pid = (await ssh('systemctl show -p MainPID --value routerd')).trim()
    await ssh('systemctl kill -s KILL routerd')
    await vm.until('routerd back', 120_000, async () => {
      const now = (await ssh('systemctl show -p MainPID --value routerd')).trim()
      return now !== pid && now !== '0' && (await ready()) === true ? true : undefined
    })
    const after = JSON.parse((await api('GET', '/v1/status')).body) as { appliedGeneration: number }
    expect(after.appliedGeneration).toBe(before.appliedGeneration)
    expect((await api('GET', '/v1/config/dhcpHosts/g1')).body).toContain(GUEST_MAC)
  }, 150_000)

  it('a reboot comes back with the same kernel state: the stored config, applied again', async () => {
    const natBefore = await ssh('iptables-save -t nat | grep -v "^[#:]" | sort')
    const status = JSON.parse((await api('GET', '/v1/status')).body) as { appliedGeneration: number }
    await ssh('systemctl reboot').catch(() => '')
    await vm.until('the second boot', BOOT_MS, async () => (vm.console().split('systemvm-boot: type=router').length > 2 ? true : undefined))
    await vm.until('routerd ready again', BOOT_MS, ready)
    const after = JSON.parse((await api('GET', '/v1/status')).body) as { appliedGeneration: number }
    expect(after.appliedGeneration).toBe(status.appliedGeneration)
    expect(await ssh('iptables-save -t nat | grep -v "^[#:]" | sort')).toBe(natBefore)
    const answer = await vm.exec(`${id}-in`, 'curl', ['-s', '--max-time', '10', `http://${PUBLIC}:2222/`])
    expect(answer.stdout).toBe(`${INET} 8080\n`)
  }, BOOT_MS * 2)
})
