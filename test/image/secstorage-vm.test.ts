import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startProcess } from '../../src/core/exec.ts'
import { peerScript } from '../../src/lab/checkout.ts'
import { ControlLink, ImageVm, imageBuilt, orchestratorKey } from '../../src/lab/image-vm.ts'
import { startGanesha, type Ganesha } from '../helpers/ganesha.ts'
import { startImageServerProcess, type ServerProcess } from '../helpers/image-http-server.ts'

/**
 * The built image as the secondary storage VM (type=secstorage) under QEMU. Its storage NIC is
 * QEMU's user-mode network, whose 10.0.2.2 is the loopback of the test's namespace, where
 * nfs-ganesha exports a directory and a file server serves a qcow2 template. storaged mounts the
 * export with the VM's own kernel NFS client (this machine's kernel has none), downloads the
 * template through its API, checksum verified, and the test reads the install from the exported
 * directory, as the hypervisors would. routerd (role hostnet) owns the VM's links, routes and
 * firewall: a namespace on the management bridge stands for the management server (10.0.0.20,
 * with a web service), one on the public bridge for the internet side.
 */

const root = process.getuid?.() === 0
const CONTROL = '169.254.2.9'

describe.skipIf(!root)('the image as the secondary storage VM (QEMU TCG, 256 MB, a real NFS mount)', () => {
  let vm: ImageVm
  let dir: string
  let exported: string
  let ganesha: Ganesha
  let web: ServerProcess
  let control: ControlLink
  let network: ControlLink
  let mgmtSide = ''
  let publicSide = ''
  let sha256 = ''
  const id = `is${process.pid % 10000}`

  /** Submits a template download of the served qcow2 into store s1 and follows it until it has ended. */
  async function download(id: number, name: string, extra: Record<string, unknown> = {}): Promise<unknown> {
    const job = await control.api('POST', '/v1/jobs', {
      kind: 'download', store: 's1', resource: 'template', url: 'http://10.0.2.2:8080/centos.qcow2', accountId: 2, id, name,
      checksum: `{SHA-256}${sha256}`, ...extra,
    })
    expect(job.status, job.body).toBe(202)
    const jobId = (JSON.parse(job.body) as { id: string }).id
    return vm.until(`download job ${id}`, 120_000, async () => {
      const view = JSON.parse((await control.api('GET', `/v1/jobs/${jobId}`)).body) as { state: string }
      return view.state === 'DOWNLOADED' || view.state === 'DOWNLOAD_ERROR' ? view : undefined
    })
  }

  beforeAll(async () => {
    if (!imageBuilt()) throw new Error('build/image is missing: make image (make test builds it)')
    dir = mkdtempSync(join(tmpdir(), 'secstorage-vm-'))
    exported = join(dir, 'exported')
    mkdirSync(exported)
    const served = join(dir, 'served')
    mkdirSync(served)
    const raw = join(dir, 'image.raw')
    writeFileSync(raw, randomBytes(3 * 1024 * 1024))
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, join(served, 'centos.qcow2')])
    execFileSync('qemu-img', ['resize', '-q', '-f', 'qcow2', join(served, 'centos.qcow2'), '64M'])
    sha256 = createHash('sha256').update(readFileSync(join(served, 'centos.qcow2'))).digest('hex')
    const { keyFile, authorizedKey } = await orchestratorKey(dir)
    vm = await ImageVm.create(id, [
      { index: 0, mac: '0e:00:a9:fe:02:09', hvAddress: '169.254.0.1/16' },
      { index: 1, mac: '1e:00:0a:00:00:2d' },
      { index: 2, mac: '1e:00:cb:00:71:14' },
      { index: 3, mac: '1e:00:0a:00:02:0f', user: true },
    ])
    control = new ControlLink(vm, CONTROL, keyFile, 8444)
    network = new ControlLink(vm, CONTROL, keyFile, 8443)
    mgmtSide = await vm.attach('mg', 1, '1e:00:0a:00:00:14', '10.0.0.20/24')
    publicSide = await vm.attach('pb', 2, '1e:00:cb:00:71:01', '203.0.113.1/24')
    // The management server's web service (killed with the namespace by vm.close()).
    const web80 = startProcess(process.execPath, [peerScript(), 'serve', 'tcp', '80'], { netns: mgmtSide })
    await vm.until('the management side\'s web server', 10_000, async () => (web80.output().includes('ready') ? true : undefined))
    ganesha = await startGanesha({ netns: vm.hv, exportDir: exported, exportPath: '/secondary', address: '169.254.0.1' })
    web = await startImageServerProcess({ dir: served, host: '127.0.0.1', port: 8080, netns: vm.hv })
    vm.boot([
      'template=domP type=secstorage host=10.0.0.20 port=8250 name=s-1-VM zone=1 pod=1 guid=s-1-VM workers=5',
      'eth2ip=203.0.113.20 eth2mask=255.255.255.0 gateway=203.0.113.1', `eth0ip=${CONTROL} eth0mask=255.255.0.0`,
      'eth1ip=10.0.0.45 eth1mask=255.255.255.0 mgmtcidr=10.0.0.0/16 localgw=10.0.0.1',
      'storageip=10.0.2.15 storagenetmask=255.255.255.0 internaldns1=10.0.0.2 dns1=192.0.2.53', `authorized_key=${authorizedKey}`,
    ].join(' '))
  }, 120_000)
  afterAll(async () => {
    await web?.stop()
    await ganesha?.stop()
    await vm?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('boots in role secstorage: storaged\'s API on the control link, routerd (hostnet) giving the links and routes from the boot line', async () => {
    await vm.until('storaged ready on the control link', 300_000, () => control.ready())
    expect(vm.console()).toContain('systemvm-boot: type=secstorage from /proc/cmdline: s-1-VM, routerd (hostnet) and storaged')
    await control.readToken('/etc/systemvm/storaged.token')
    await network.readToken('/etc/systemvm/routerd.token')
    await vm.until('routerd ready on the control link', 60_000, () => network.ready())
    const addresses = await control.ssh('ip -4 -o addr show')
    for (const a of ['169.254.2.9/16', '10.0.0.45/24', '203.0.113.20/24', '10.0.2.15/24']) expect(addresses).toContain(a)
    // mgmtcidr is wider than the management NIC's network: routed via localgw; the internal
    // resolver (10.0.0.2) is inside it, so it needs no route of its own.
    expect(await control.ssh('ip -4 route show 10.0.0.0/16')).toContain('via 10.0.0.1 dev eth1')
    expect(await control.ssh('ip -4 route show default')).toContain('via 203.0.113.1 dev eth2')
    // Both daemons in 256 MB, with room to spare.
    const available = Number(/^MemAvailable:\s+(\d+) kB/m.exec(await control.ssh('cat /proc/meminfo'))?.[1]) / 1024
    expect(available).toBeGreaterThan(64)
    // Sandboxed: CAP_CHOWN (0), CAP_DAC_OVERRIDE (1), CAP_DAC_READ_SEARCH (2), CAP_FOWNER (3),
    // CAP_NET_BIND_SERVICE (10), CAP_SYS_ADMIN (21).
    const pid = (await control.ssh('systemctl show -p MainPID --value storaged')).trim()
    expect(await control.ssh(`grep CapBnd /proc/${pid}/status`)).toBe('CapBnd:\t000000000020040f\n')
  }, 320_000)

  /** A TCP connect from a namespace: open, refused (reached the VM, nothing there or rejected) or dropped. */
  async function connect(ns: string, host: string, port: number): Promise<'open' | 'refused' | 'dropped'> {
    const r = await vm.exec(ns, 'timeout', ['3', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { okCodes: [0, 1, 124] })
    return r.exitCode === 0 ? 'open' : r.exitCode === 1 ? 'refused' : 'dropped'
  }

  it('INPUT: 80 and 443 reach the public IP, nothing else does (rpcbind listens on every address); the management side reaches nothing', async () => {
    expect(await control.ssh('ss -Hltn sport = :111')).toMatch(/(0\.0\.0\.0|\*):111/)
    expect(await connect(publicSide, '203.0.113.20', 80)).toBe('refused')
    expect(await connect(publicSide, '203.0.113.20', 443)).toBe('refused')
    expect(await connect(publicSide, '203.0.113.20', 111)).toBe('dropped')
    expect(await connect(publicSide, '203.0.113.20', 3922)).toBe('dropped')
    expect(await connect(mgmtSide, '10.0.0.45', 111)).toBe('dropped')
    expect(await connect(mgmtSide, '10.0.0.45', 80)).toBe('dropped')
  }, 60_000)

  it('OUTPUT: no new web connection out of the management link, until the management server lists the site (allowedInternalSites)', async () => {
    const probe = async () => (await control.ssh('timeout 5 bash -c "exec 3<>/dev/tcp/10.0.0.20/80" 2>/dev/null && echo open || echo closed $?')).trim()
    expect(await probe()).toBe('closed 1')
    const put = await network.api('PUT', '/v1/config/internalSites/ms', { id: 'ms', cidr: '10.0.0.20/32' })
    expect(put.status, put.body).toBe(200)
    expect(await probe()).toBe('open')
    expect((await network.api('DELETE', '/v1/config/internalSites/ms')).status).toBe(200)
    expect(await probe()).toBe('closed 1')
  }, 60_000)

  it('mounts the NFS export with the VM\'s kernel, downloads a template into it, and the export holds the install', async () => {
    const put = await control.api('PUT', '/v1/config/stores/s1', { id: 's1', url: 'nfs://10.0.2.2/secondary', nfsVersion: '4' })
    expect(put.status, put.body).toBe(200)
    expect(await control.ssh('grep " nfs4 " /proc/mounts')).toMatch(/^10\.0\.2\.2:\/secondary \/mnt\/SecStorage\/[0-9a-f-]{36} nfs4 .*vers=4/m)
    const done = await download(201, 'centos', { format: 'qcow2' })
    expect(done).toMatchObject({ state: 'DOWNLOADED', result: { format: 'qcow2', virtualSize: 64 * 1024 * 1024 } })
    // What the hypervisors see: the export's own directory, written over NFS by the VM.
    const install = join(exported, 'template', 'tmpl', '2', '201')
    const names = readdirSync(install).sort()
    expect(names).toHaveLength(2)
    expect(names).toContain('template.properties')
    const file = names.find((n) => n.endsWith('.qcow2')) as string
    expect(createHash('sha256').update(readFileSync(join(install, file))).digest('hex')).toBe(sha256)
    const properties = readFileSync(join(install, 'template.properties'), 'utf8')
    expect(properties).toContain(`qcow2.filename=${file}`)
    expect(properties).toContain('virtualsize=67108864')
  }, 200_000)

  it('the same export over NFSv3 (statd and lockd in the VM): the store removed unmounts, added again with vers=3 lists the install and takes another', async () => {
    const removed = await control.api('DELETE', '/v1/config/stores/s1')
    expect(removed.status, removed.body).toBe(200)
    expect(await control.ssh('grep -c " /mnt/SecStorage/" /proc/mounts || true')).toBe('0\n')
    const put = await control.api('PUT', '/v1/config/stores/s1', { id: 's1', url: 'nfs://10.0.2.2/secondary', nfsVersion: '3' })
    expect(put.status, put.body).toBe(200)
    expect(await control.ssh('grep " /mnt/SecStorage/" /proc/mounts')).toMatch(/^10\.0\.2\.2:\/secondary \S+ nfs \S*vers=3/m)
    const listed = JSON.parse((await control.api('GET', '/v1/stores/s1/templates')).body) as { installs: { id: number }[] }
    expect(listed.installs.map((t) => t.id)).toEqual([201])
    const done = await download(202, 'centos-2')
    expect(done).toMatchObject({ state: 'DOWNLOADED' })
    expect(readdirSync(join(exported, 'template', 'tmpl', '2', '202'))).toContain('template.properties')
  }, 200_000)
})
