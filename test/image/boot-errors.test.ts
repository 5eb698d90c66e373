import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ImageVm, imageBuilt } from '../../src/lab/image-vm.ts'

/**
 * A boot line the image cannot use fails the boot loudly: systemvm-boot names every bad key on
 * the console (and in the journal), and no daemon starts from it.
 */

const root = process.getuid?.() === 0

describe.skipIf(!root)('the image with a bad boot line (QEMU TCG, 256 MB)', () => {
  let vm: ImageVm
  const id = `ie${process.pid % 10000}`

  beforeAll(async () => {
    if (!imageBuilt()) throw new Error('build/image is missing: make image (make test builds it)')
    vm = await ImageVm.create(id, [{ index: 0, mac: '1e:00:0a:02:01:01' }, { index: 1, mac: '0e:00:a9:fe:03:0f', hvAddress: '169.254.0.1/16' }])
    // A router's line without its guest address, with a control mask that is not a mask.
    vm.boot('template=domP type=router name=r-8-VM eth1ip=169.254.3.15 eth1mask=255.0.255.0 gateway=203.0.113.1')
  }, 60_000)
  afterAll(async () => {
    await vm?.close()
  })

  it('names each bad key on the console, and starts neither routerd nor sshd', async () => {
    const failed = await vm.bootFailure()
    expect(failed).toMatch(/systemvm-boot: the boot line in \/proc\/cmdline cannot be used; nothing is started/)
    expect(failed).toMatch(/systemvm-boot: eth0ip: [^\n]*\[ERR_BOOT_KEY_MISSING\]/)
    expect(failed).toMatch(/systemvm-boot: eth1mask: eth1mask=255\.0\.255\.0 is invalid[^\n]*\[ERR_BOOT_KEY_INVALID\]/)
    const rest = await vm.until('the boot to reach its login prompt', 120_000, async () => (/ login: /.test(vm.consoleText()) ? vm.consoleText() : undefined))
    expect(rest).toMatch(/Dependency failed for routerd\.service/)
    expect(rest).toMatch(/Dependency failed for ssh\.service/)
    expect(rest).not.toMatch(/Started routerd\.service/)
    expect(rest).not.toMatch(/Started ssh\.service/)
  }, 450_000)
})

describe.skipIf(!root)('the image with type=vpcrouter (QEMU TCG, 256 MB)', () => {
  let vm: ImageVm
  const id = `iw${process.pid % 10000}`

  beforeAll(async () => {
    if (!imageBuilt()) throw new Error('build/image is missing: make image (make test builds it)')
    vm = await ImageVm.create(id, [{ index: 0, mac: '1e:00:0a:03:01:01' }, { index: 1, mac: '0e:00:a9:fe:03:10', hvAddress: '169.254.0.1/16' }])
    vm.boot('template=domP type=vpcrouter name=r-9-VM eth0ip=169.254.3.16 eth0mask=255.255.0.0')
  }, 60_000)
  afterAll(async () => {
    await vm?.close()
  })

  it('is refused with the role named: VPC is not part of this appliance yet', async () => {
    const failed = await vm.bootFailure()
    expect(failed).toMatch(/systemvm-boot: type: type=vpcrouter is refused: this appliance has no VPC yet[^\n]*\[ERR_BOOT_ROLE\]/)
    expect(failed).not.toMatch(/Started routerd\.service/)
  }, 320_000)
})

