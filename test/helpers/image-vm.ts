import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binary, run, startProcess, type RunResult, type StartedProcess } from '../../src/core/exec.ts'
import { checkoutRoot } from '../../src/lab/checkout.ts'

/**
 * The built image (`make image`: build/image/{rootfs.ext4,vmlinuz,initrd.img}) booted under QEMU
 * (TCG: this machine has no usable KVM), 256 MB, its boot line given with -append, its NICs tap
 * devices on bridges of a namespace of the test's own (`<id>-hv`), so the VM is the router of
 * the namespaces the test puts on those bridges. The root file system is opened with
 * snapshot=on: a VM never changes the built image (a reboot inside the VM keeps its writes, the
 * QEMU process holds them).
 *
 *   <id>-hv:  br<i> ── t<i> ══ eth<i> of the VM (QEMU's tap)
 *                └── v<name> ── eth0 of <id>-<name>  (a namespace per attached host)
 */

export const IMAGE_DIR = join(checkoutRoot(), 'build', 'image')

export function imageBuilt(): boolean {
  return ['rootfs.ext4', 'vmlinuz', 'initrd.img'].every((f) => existsSync(join(IMAGE_DIR, f)))
}

export interface VmLink {
  /** The VM's NIC index (eth<index>) and its MAC. */
  index: number
  mac: string
  /** An address the hypervisor namespace takes on this bridge (to reach the VM there), if any. */
  hvAddress?: string
}

export class ImageVm {
  readonly hv: string
  private readonly dir: string
  private qemu: StartedProcess | undefined
  private readonly namespaces: string[] = []

  private constructor(readonly id: string, private readonly links: readonly VmLink[]) {
    this.hv = `${id}-hv`
    this.dir = mkdtempSync(join(tmpdir(), `image-vm-${id}-`))
  }

  /** The namespace and bridges, without the VM. */
  static async create(id: string, links: readonly VmLink[]): Promise<ImageVm> {
    const vm = new ImageVm(id, links)
    try {
      await vm.addNamespace(vm.hv)
      for (const link of links) {
        await vm.ip('link', 'add', `br${link.index}`, 'type', 'bridge')
        await vm.ip('tuntap', 'add', 'dev', `t${link.index}`, 'mode', 'tap')
        await vm.ip('link', 'set', `t${link.index}`, 'master', `br${link.index}`, 'up')
        await vm.ip('link', 'set', `br${link.index}`, 'up')
        if (link.hvAddress !== undefined) await vm.ip('addr', 'add', link.hvAddress, 'dev', `br${link.index}`)
      }
    } catch (err) {
      await vm.close()
      throw err
    }
    return vm
  }

  /** A namespace `<id>-<name>` whose eth0 (with `mac`) is on the bridge of the VM's eth<index>. */
  async attach(name: string, index: number, mac: string, address?: string, gateway?: string): Promise<string> {
    const ns = `${this.id}-${name}`
    await this.addNamespace(ns)
    await this.ip('link', 'add', `v${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    await this.ip('link', 'set', `v${name}`, 'master', `br${index}`, 'up')
    await run(binary('ip'), ['-n', ns, 'link', 'set', 'eth0', 'address', mac, 'up'])
    if (address !== undefined) await run(binary('ip'), ['-n', ns, 'addr', 'add', address, 'dev', 'eth0'])
    if (gateway !== undefined) await run(binary('ip'), ['-n', ns, 'route', 'add', 'default', 'via', gateway])
    return ns
  }

  /** Boots the VM with `bootLine` after the kernel's own options. */
  boot(bootLine: string): void {
    const args = [
      '-m', '256', '-smp', '1', '-display', 'none', '-monitor', 'none',
      '-serial', `file:${this.consolePath}`,
      '-kernel', join(IMAGE_DIR, 'vmlinuz'), '-initrd', join(IMAGE_DIR, 'initrd.img'),
      '-append', `root=/dev/vda rw console=ttyS0 net.ifnames=0 ${bootLine}`,
      '-drive', `file=${join(IMAGE_DIR, 'rootfs.ext4')},format=raw,if=virtio,snapshot=on`,
      ...this.links.flatMap((l) => ['-netdev', `tap,id=n${l.index},ifname=t${l.index},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n${l.index},mac=${l.mac}`]),
    ]
    this.qemu = startProcess(binary('qemu-system-x86_64'), args, { netns: this.hv })
  }

  get consolePath(): string {
    return join(this.dir, 'console.log')
  }

  /** The serial console so far. */
  console(): string {
    return existsSync(this.consolePath) ? readFileSync(this.consolePath, 'latin1') : ''
  }

  /** QEMU's own output (its errors), for failure messages. */
  qemuOutput(): string {
    return this.qemu?.output() ?? ''
  }

  /** Polls `check` every 500 ms until it returns a value; fails with the console's tail after `ms`. */
  async until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + ms
    for (;;) {
      const value = await check().catch(() => undefined)
      if (value !== undefined) return value
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s; console:\n${this.console().slice(-3000)}\nqemu: ${this.qemuOutput().slice(-1000)}`)
      await new Promise((r) => setTimeout(r, 500))
    }
  }

  exec(ns: string, file: string, args: readonly string[], opts: { stdin?: string; timeoutMs?: number; okCodes?: number[] } = {}): Promise<RunResult> {
    return run(file.startsWith('/') ? file : binary(file), args, { ...opts, netns: ns })
  }

  async close(): Promise<void> {
    if (this.qemu !== undefined) {
      this.qemu.kill('SIGKILL')
      await this.qemu.exited
    }
    for (const ns of this.namespaces.reverse()) {
      const pids = await run(binary('ip'), ['netns', 'pids', ns], { okCodes: [0, 1, 255] }).catch(() => ({ stdout: '' }))
      for (const pid of pids.stdout.split('\n').filter((p) => p !== '')) {
        try {
          process.kill(Number(pid), 'SIGKILL')
        } catch {
          // gone already
        }
      }
      await run(binary('ip'), ['netns', 'del', ns], { okCodes: [0, 1, 255] }).catch(() => undefined)
    }
    rmSync(this.dir, { recursive: true, force: true })
  }

  private async addNamespace(ns: string): Promise<void> {
    await run(binary('ip'), ['netns', 'add', ns])
    this.namespaces.push(ns)
    await run(binary('ip'), ['-n', ns, 'link', 'set', 'lo', 'up'])
  }

  private async ip(...args: string[]): Promise<void> {
    await run(binary('ip'), ['-n', this.hv, ...args])
  }
}
