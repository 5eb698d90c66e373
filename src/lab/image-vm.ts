import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binary, run, startProcess, type RunResult, type StartedProcess } from '../core/exec.ts'
import { checkoutRoot } from './checkout.ts'

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
 *             lo (127.0.0.1) ══ 10.0.2.2 on the VM's user-mode NIC, if it has one
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
  /**
   * QEMU's user-mode network instead of a tap (10.0.2.0/24): the VM reaches 10.0.2.2, which is
   * the hypervisor namespace's own loopback (servers the test runs there, such as an NFS server).
   */
  user?: boolean
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
        if (link.user === true) continue
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
      // Entropy from the host, as clouds give their VMs: under TCG the guest's own can take
      // minutes to be ready, and the boot's first steps (the SSH host key, the API tokens) wait for it.
      '-device', 'virtio-rng-pci',
      ...this.links.flatMap((l) => [
        '-netdev', l.user === true ? `user,id=n${l.index},net=10.0.2.0/24` : `tap,id=n${l.index},ifname=t${l.index},script=no,downscript=no`,
        '-device', `virtio-net-pci,netdev=n${l.index},mac=${l.mac}`,
      ]),
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

  /** The serial console without its colours (systemd's status lines), for matching. */
  consoleText(): string {
    return this.console().replace(/\x1b\[[0-9;]*m/g, '')
  }

  /** Polls until the console shows systemvm-boot.service failed; resolves with the console's text. */
  bootFailure(ms = 300_000): Promise<string> {
    return this.until('systemvm-boot.service failing on the console', ms, async () =>
      (/Failed to start systemvm-boot\.service/.test(this.consoleText()) ? this.consoleText() : undefined))
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

/**
 * The orchestrator's side of a VM's control link, from the hypervisor namespace: SSH on 3922
 * with the boot line's key (as CloudStack reaches its system VMs), routerd's API with the token
 * read over it.
 */
export class ControlLink {
  token = ''

  constructor(private readonly vm: ImageVm, private readonly address: string, private readonly keyFile: string, private readonly port = 8443) {}

  private run(file: string, args: readonly string[], okCodes = [0]): Promise<RunResult> {
    return this.vm.exec(this.vm.hv, file, args, { okCodes, timeoutMs: 60_000 })
  }

  async ssh(command: string): Promise<string> {
    return (await this.run('ssh', [
      '-i', this.keyFile, '-p', '3922', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR', `root@${this.address}`, command,
    ])).stdout
  }

  /** Reads the daemon's token over SSH once sshd answers (it starts after the daemon is ready). */
  async readToken(path = '/etc/systemvm/routerd.token'): Promise<string> {
    this.token = await this.vm.until('sshd on the control link', 90_000, async () => (await this.ssh(`cat ${path}`)).trim())
    return this.token
  }

  async api(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    return this.request(method, path, body === undefined ? [] : ['--data-binary', JSON.stringify(body)], 60_000)
  }

  /** A PUT of a file's bytes (a large document), allowed `timeoutMs` to apply. */
  putFile(path: string, file: string, timeoutMs = 600_000): Promise<{ status: number; body: string }> {
    return this.request('PUT', path, ['--data-binary', `@${file}`], timeoutMs)
  }

  private async request(method: string, path: string, data: readonly string[], timeoutMs: number): Promise<{ status: number; body: string }> {
    // A content type only with a body: fastify refuses an empty JSON body.
    const body = data.length === 0 ? [] : ['-H', 'content-type: application/json', ...data]
    const r = await this.vm.exec(this.vm.hv, 'curl', ['-s', '-X', method, '-H', `authorization: Bearer ${this.token}`,
      ...body, '-w', '\n%{http_code}', `http://${this.address}:${this.port}${path}`], { timeoutMs })
    const lines = r.stdout.trimEnd().split('\n')
    return { status: Number(lines.pop()), body: lines.join('\n') }
  }

  /** true once GET /readyz answers 200; undefined before (for ImageVm.until). */
  async ready(): Promise<true | undefined> {
    const r = await this.run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', `http://${this.address}:${this.port}/readyz`], [0, 7, 28])
    return r.stdout === '200' || undefined
  }
}

/** A fresh SSH key pair in `dir` (key, key.pub); returns the public key as the boot line's authorized_key (base64). */
export async function orchestratorKey(dir: string): Promise<{ keyFile: string; authorizedKey: string }> {
  const keyFile = join(dir, 'key')
  await run(binary('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', 'orchestrator', '-f', keyFile])
  return { keyFile, authorizedKey: readFileSync(`${keyFile}.pub`).toString('base64') }
}

/**
 * Runs busybox udhcpc once in `ns` (eth0) with a script that applies the lease; resolves with
 * the script's line `bound <ip> router <r> dns <d> domain <domain>`, or the client's output.
 */
export async function leaseIn(vm: ImageVm, ns: string, dir: string): Promise<string> {
  const script = join(dir, `udhcpc-${ns}.sh`)
  writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] || exit 0\nip addr add "$ip/$mask" dev "$interface"\n[ -n "$router" ] && ip route replace default via "$router"\necho "bound $ip router $router dns $dns domain $domain"\n')
  chmodSync(script, 0o755)
  const r = await vm.exec(ns, 'busybox', ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '10', '-T', '2', '-s', script], { timeoutMs: 60_000, okCodes: [0, 1] })
  return r.stdout + r.stderr
}
