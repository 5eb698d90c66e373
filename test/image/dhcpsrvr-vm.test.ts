import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ControlLink, ImageVm, imageBuilt, leaseIn, orchestratorKey } from '../../src/lab/image-vm.ts'

/**
 * The built image as a basic zone's DHCP server (type=dhcpsrvr) under QEMU: two NICs, the
 * guest network on eth0 and the control link on eth1, as CloudStack gives them. A guest gets its
 * lease and its name; the VM routes nothing (no public link, no NAT).
 */

const root = process.getuid?.() === 0
const CONTROL = '169.254.1.77'
const GUEST_MAC = '02:00:0a:02:00:21'
const GUEST_IP = '10.2.0.21'

describe.skipIf(!root)('the image as a DHCP server VM (QEMU TCG, 256 MB)', () => {
  let vm: ImageVm
  let dir: string
  let guest: string
  let control: ControlLink
  const id = `id${process.pid % 10000}`

  beforeAll(async () => {
    if (!imageBuilt()) throw new Error('build/image is missing: make image (make test builds it)')
    dir = mkdtempSync(join(tmpdir(), 'dhcpsrvr-vm-'))
    const { keyFile, authorizedKey } = await orchestratorKey(dir)
    vm = await ImageVm.create(id, [{ index: 0, mac: '1e:00:a1:00:00:0b' }, { index: 1, mac: '0e:00:a9:fe:01:4d', hvAddress: '169.254.0.1/16' }])
    control = new ControlLink(vm, CONTROL, keyFile)
    guest = await vm.attach('g1', 0, GUEST_MAC)
    vm.boot([
      'template=domP type=dhcpsrvr name=r-9-VM eth0ip=10.2.0.3 eth0mask=255.255.240.0', `eth1ip=${CONTROL} eth1mask=255.255.0.0`,
      'gateway=10.2.0.1 domain=basic.internal cidrsize=20 dhcprange=10.2.0.1 dns1=192.0.2.53', `authorized_key=${authorizedKey}`,
    ].join(' '))
  }, 60_000)
  afterAll(async () => {
    await vm?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('boots in role dhcpsrvr; a guest gets its lease (the zone\'s gateway, not the VM, as its router) and its name', async () => {
    await vm.until('routerd ready on the control link', 300_000, () => control.ready())
    expect(vm.console()).toContain('systemvm-boot: type=dhcpsrvr from /proc/cmdline: r-9-VM, routerd (dhcpsrvr)')
    await control.readToken()
    const put = await control.api('PUT', '/v1/config/dhcpHosts/g1', { id: 'g1', network: 'guest', mac: GUEST_MAC, ip: GUEST_IP, hostname: 'basic-one' })
    expect(put.status, put.body).toBe(200)
    expect(await leaseIn(vm, guest, dir)).toContain(`bound ${GUEST_IP} router 10.2.0.1 dns 10.2.0.3 domain basic.internal`)
    const answer = await vm.exec(guest, 'dig', ['+short', '+time=3', '+tries=2', '@10.2.0.3', 'basic-one.basic.internal'])
    expect(answer.stdout.trim()).toBe(GUEST_IP)
    expect(await control.ssh('iptables-save -t nat | grep -c -- "-j SNAT\\|MASQUERADE" || true')).toBe('0\n')
    // Its own way out (upstream resolvers, the management server) is the shared network's gateway.
    expect(await control.ssh('ip -4 route show default')).toMatch(/^default via 10\.2\.0\.1 dev eth0/)
  }, 400_000)
})
