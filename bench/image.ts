#!/usr/bin/env node
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ControlLink, IMAGE_DIR, ImageVm, orchestratorKey } from '../src/lab/image-vm.ts'
import { cleanupOnSignals, onCleanup } from './lib/cleanup.ts'
import { machine, revision, runSuite, writeResults, type Result } from './lib/report.ts'
import { median, round } from './lib/stats.ts'

/**
 * `make bench-image`: the image built by `make image-qcow2` (build/image), booted under QEMU as
 * a router (TCG: this machine has no usable KVM; -m 256), as the image tests boot it:
 *
 *   image_qcow2_compressed_mb   the size of build/image/systemvm.qcow2, MB
 *   boot_to_api_ready_s_tcg     QEMU started → GET /readyz 200 on the control link, s (median of
 *                               BOOTS boots, each a fresh VM)
 *   vm_mem_available_mb_loaded  MemAvailable in the VM (/proc/meminfo, over SSH) once 10,000
 *                               port forwards and 4,096 DHCP hosts are applied, MB
 *
 * No peer runs here: CloudStack's template is not built on this machine. Writes
 * bench/results/image.json.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const RESULTS = join(ROOT, 'bench', 'results', 'image.json')
const BOOTS = 3
const FORWARDS = 10_000
const DHCP_HOSTS = 4096
const CONTROL = '169.254.3.14'
const PUBLIC = '203.0.113.10'
const MB = 1e6

function log(message: string): void {
  process.stderr.write(`[bench-image] ${message}\n`)
}

/** The guest address of host i in 10.1.0.0/19 (10.1.0.10 on). */
const guestIp = (i: number) => `10.1.${Math.floor((i + 10) / 256)}.${(i + 10) % 256}`
const guestMac = (i: number) => `02:00:0a:01:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`

interface Booted { vm: ImageVm; control: ControlLink; readyS: number }

async function boot(id: string, authorizedKey: string, keyFile: string): Promise<Booted> {
  const vm = await ImageVm.create(id, [
    { index: 0, mac: '1e:00:0a:01:00:01' },
    { index: 1, mac: '0e:00:a9:fe:03:0e', hvAddress: '169.254.0.1/16' },
    { index: 2, mac: '1e:00:cb:00:71:0a' },
  ])
  onCleanup(`vm ${id}`, () => vm.close())
  const control = new ControlLink(vm, CONTROL, keyFile)
  const started = performance.now()
  vm.boot([
    'template=domP type=router name=r-5-VM', 'eth0ip=10.1.0.1 eth0mask=255.255.224.0',
    `eth1ip=${CONTROL} eth1mask=255.255.0.0`, `eth2ip=${PUBLIC} eth2mask=255.255.255.0 gateway=203.0.113.1`,
    'domain=bench.internal cidrsize=19 dhcprange=10.1.0.1 dns1=203.0.113.1', `authorized_key=${authorizedKey}`,
  ].join(' '))
  await vm.until('routerd ready', 300_000, () => control.ready())
  return { vm, control, readyS: (performance.now() - started) / 1000 }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench-image needs root (network namespaces, taps)')
  cleanupOnSignals()
  const started = performance.now()
  const loadAverage = { atStart: loadavg().map((l) => round(l, 2)), atEnd: [] as number[] }
  const dir = mkdtempSync(join(tmpdir(), 'bench-image-'))
  onCleanup('bench dir', () => rmSync(dir, { recursive: true, force: true }))
  const { keyFile, authorizedKey } = await orchestratorKey(dir)
  const results: Result[] = []
  const notes: string[] = []
  const details: Record<string, unknown> = {}

  const qcow2 = statSync(join(IMAGE_DIR, 'systemvm.qcow2')).size
  results.push({ name: 'image_qcow2_compressed_mb', unit: 'MB', ours: round(qcow2 / MB, 1), peer: null, peer_value: null, ratio: null, target: 'ours <= 250 MB', pass: qcow2 / MB <= 250 })
  details['image'] = { qcow2Bytes: qcow2, rootfsUsedBytes: statSync(join(IMAGE_DIR, 'rootfs.ext4')).blocks * 512 }

  const readyS: number[] = []
  let loaded: Booted | undefined
  for (let i = 0; i < BOOTS; i++) {
    const b = await boot(`bi${process.pid % 1000}${i}`, authorizedKey, keyFile)
    readyS.push(b.readyS)
    log(`boot ${i + 1}/${BOOTS}: API ready after ${round(b.readyS, 1)} s`)
    if (i < BOOTS - 1) await b.vm.close()
    else loaded = b
  }
  const bootMedian = median(readyS)
  results.push({ name: 'boot_to_api_ready_s_tcg', unit: 's', ours: round(bootMedian, 1), peer: null, peer_value: null, ratio: null, target: 'ours <= 45 s', pass: bootMedian <= 45 })
  details['bootsToReadyS'] = readyS.map((s) => round(s, 1))

  const { control } = loaded as Booted
  await control.readToken()
  const meminfo = async () => Object.fromEntries((await control.ssh('cat /proc/meminfo')).split('\n').filter((l) => l.includes(':'))
    .map((l) => [l.slice(0, l.indexOf(':')), Number(l.slice(l.indexOf(':') + 1).trim().split(' ')[0]) * 1024]))
  const rss = async (unit: string) => {
    const pid = (await control.ssh(`systemctl show -p MainPID --value ${unit}`)).trim()
    return Number(/VmRSS:\s+(\d+)/.exec(await control.ssh(`cat /proc/${pid}/status`))?.[1] ?? 0) * 1024
  }
  const idle = await meminfo()
  const idleRss = await rss('routerd')
  const config = JSON.parse((await control.api('GET', '/v1/config')).body) as { config: Record<string, unknown> }
  const document = {
    ...config.config,
    dhcpHosts: Array.from({ length: DHCP_HOSTS }, (_, i) => ({ id: `vm${i}`, network: 'guest', mac: guestMac(i), ip: guestIp(i), hostname: `vm-${i}` })),
    portForwards: Array.from({ length: FORWARDS }, (_, i) => ({
      id: `pf${i}`, publicIp: PUBLIC, protocol: 'tcp', publicPorts: { start: 10_000 + i }, privateIp: guestIp(i % DHCP_HOSTS), privatePorts: { start: 80 },
    })),
  }
  const body = join(dir, 'config.json')
  writeFileSync(body, JSON.stringify(document))
  const put = await control.putFile('/v1/config', body)
  if (put.status !== 200) throw new Error(`the loaded config was refused: ${put.status} ${put.body.slice(0, 2000)}`)
  const applied = JSON.parse(put.body) as { generation: number }
  const rules = Number((await control.ssh('iptables-save | grep -c -- "--dport"')).trim())
  const loadedMem = await meminfo()
  const loadedRss = await rss('routerd')
  const available = (loadedMem['MemAvailable'] ?? 0) / MB
  results.push({
    name: 'vm_mem_available_mb_loaded', unit: 'MB', ours: round(available, 1), peer: null, peer_value: null, ratio: null,
    target: 'ours >= 64 MB', pass: available >= 64,
  })
  details['loaded'] = {
    portForwards: FORWARDS, dhcpHosts: DHCP_HOSTS, generation: applied.generation, iptablesDportRules: rules,
    memTotalMb: round((loadedMem['MemTotal'] ?? 0) / MB, 1), memAvailableIdleMb: round((idle['MemAvailable'] ?? 0) / MB, 1),
    memAvailableLoadedMb: round(available, 1), routerdRssIdleMb: round(idleRss / MB, 1), routerdRssLoadedMb: round(loadedRss / MB, 1),
  }
  notes.push(`boots: ${readyS.map((s) => round(s, 1)).join(', ')} s to GET /readyz 200 (QEMU TCG, -m 256, from QEMU's start)`)
  notes.push(`loaded: ${FORWARDS} port forwards and ${DHCP_HOSTS} DHCP hosts in one PUT (generation ${applied.generation}, ${rules} --dport rules in iptables-save); MemAvailable ${round((idle['MemAvailable'] ?? 0) / MB, 1)} MB idle → ${round(available, 1)} MB loaded of ${round((loadedMem['MemTotal'] ?? 0) / MB, 1)} MB; routerd RSS ${round(idleRss / MB, 1)} → ${round(loadedRss / MB, 1)} MB`)

  loadAverage.atEnd = loadavg().map((l) => round(l, 2))
  writeResults(RESULTS, {
    suite: 'image', target: 'image_qcow2_compressed_mb <= 250; boot_to_api_ready_s_tcg <= 45; vm_mem_available_mb_loaded >= 64',
    machine: await machine(), loadAverage, revision: await revision(ROOT), generatedAt: new Date().toISOString(),
    durationS: round((performance.now() - started) / 1000, 1), results, notes, details,
  } as Parameters<typeof writeResults>[1])
}

await runSuite('bench-image', main)
