import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, run } from '../../src/core/exec.ts'
import type { Daemon } from '../../src/lab/daemon.ts'
import { StorageLab } from '../../src/lab/storage-lab.ts'
import { startGanesha, type Ganesha } from '../helpers/ganesha.ts'
import { api, finished, putStore, submit } from '../helpers/storaged.ts'

/**
 * A store as the hypervisors see it: nfs-ganesha in the lab's web namespace (10.201.0.2) exports
 * the directory storaged, in the storage VM's namespace, uses as its `nfs` store. This machine
 * cannot mount NFS, so storaged's path driver stands in for the mount; everything storaged's
 * jobs leave there is then read back over NFSv3 from the storage VM's namespace with libnfs
 * (`nfs-ls`, `nfs-cat`, `nfs-cp`): the install directory lists exactly the install file and
 * template.properties, their bytes are the ones on disk, and no listing taken while a job runs
 * or after one failed shows a half-written install.
 */

let lab: StorageLab
let d: Daemon
let ganesha: Ganesha
let exported: string
let local: string

beforeAll(async () => {
  lab = await StorageLab.create('nfs')
  exported = lab.mkdir('exported')
  local = lab.mkdir('local')
  ganesha = await startGanesha({ netns: lab.ns.web, exportDir: exported, exportPath: '/secondary' })
  for (const p of ganesha.processes) lab.adopt(p)
  d = await lab.startStoraged()
  await putStore(d, 'nfs', exported)
  await putStore(d, 'local', local)
  // The health check that follows each store edit writes a probe file in each store's root, one
  // store after the other: once the last store added has been checked, no probe is left and no
  // other check follows (the lab turns periodic checks off), so listings see only the jobs' files.
  for (let i = 0; ; i++) {
    const stores: { checkedAt: string | null }[] = (await api(d, 'GET', '/v1/status')).body.stores
    if (stores.length === 2 && stores.every((s) => s.checkedAt !== null)) break
    if (i === 100) throw new Error('the stores were never health-checked')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}, 60_000)

afterAll(async () => {
  try {
    await ganesha?.stop()
  } finally {
    await lab?.destroy()
  }
})

const TEMP = /^dnld[0-9]{1,20}tmp_$/

/** A qcow2 snapshot at `path` holding `dataMiB` MiB of random data, virtual size `virtualMiB` MiB. */
function qcow2Snapshot(path: string, dataMiB: number, virtualMiB: number): void {
  mkdirSync(join(path, '..'), { recursive: true })
  const raw = join(lab.dir, `${basename(path)}.raw`)
  writeFileSync(raw, randomBytes(dataMiB * 1024 * 1024))
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, path])
  execFileSync('qemu-img', ['resize', '-q', '-f', 'qcow2', path, `${virtualMiB}M`])
  rmSync(raw)
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

interface NfsEntry { name: string; size: number; dir: boolean }

/** `nfs-ls` of a directory under the export, over NFSv3 from the storage VM's namespace. */
async function nfsList(dir: string, recursive = false): Promise<NfsEntry[]> {
  const out = await run(binary('nfs-ls'), [...(recursive ? ['-R'] : []), ganesha.url(`${dir}/`)], { netns: lab.ns.ssvm, timeoutMs: 30_000 })
  return out.stdout.split('\n').filter((l) => l !== '').map((line) => {
    const m = /^(\S+)\s+\d+\s+\d+\s+\d+\s+(\d+) (.+)$/.exec(line)
    if (m === null) throw new Error(`nfs-ls line: ${line}`)
    return { name: m[3] as string, size: Number(m[2]), dir: (m[1] as string).startsWith('d') }
  }).sort((a, b) => a.name.localeCompare(b.name))
}

/** A text file under the export read with `nfs-cat` (NFSv3, storage VM's namespace). */
async function nfsCat(path: string): Promise<string> {
  return (await run(binary('nfs-cat'), [ganesha.url(path)], { netns: lab.ns.ssvm, timeoutMs: 30_000 })).stdout
}

/** The bytes of a file under the export, fetched with `nfs-cp` (NFSv3, storage VM's namespace). */
async function nfsRead(path: string): Promise<Buffer> {
  const copy = join(lab.mkdir('fetched'), randomBytes(4).toString('hex'))
  await run(binary('nfs-cp'), [ganesha.url(path), copy], { netns: lab.ns.ssvm, timeoutMs: 60_000 })
  try {
    return readFileSync(copy)
  } finally {
    rmSync(copy)
  }
}

/** Over NFS, `dir` (an install directory of the `nfs` store) holds the install and its properties, as on disk. */
async function expectInstallOverNfs(installPath: string, want: { id: number; name: string; virtualSize: number }): Promise<void> {
  const dir = installPath.slice(0, installPath.lastIndexOf('/'))
  const onDisk = readFileSync(join(exported, installPath))
  expect(await nfsList(dir)).toEqual([
    { name: basename(installPath), size: onDisk.length, dir: false },
    { name: 'template.properties', size: statSync(join(exported, dir, 'template.properties')).size, dir: false },
  ].sort((a, b) => a.name.localeCompare(b.name)))
  const props = await nfsCat(`${dir}/template.properties`)
  expect(props).toBe(readFileSync(join(exported, dir, 'template.properties'), 'latin1'))
  for (const line of ['qcow2=true', `id=${want.id}`, `uniquename=${want.name}`, `virtualsize=${want.virtualSize}`, `qcow2.filename=${basename(installPath)}`]) {
    expect(props).toContain(`${line}\n`)
  }
  expect(sha256(await nfsRead(installPath))).toBe(sha256(onDisk))
}

describe('a path store exported by ganesha, read over NFS from the storage VM', () => {
  it('the storage VM lists the store over NFSv3 and NFSv4: the layout storaged made', async () => {
    const layout = [{ name: 'snapshots', dir: true }, { name: 'volumes', dir: true }]
    expect((await nfsList('')).map(({ name, dir }) => ({ name, dir }))).toEqual(layout)
    const v4 = await run(binary('nfs-ls'), [ganesha.url('', 4)], { netns: lab.ns.ssvm, timeoutMs: 30_000 })
    expect(v4.stdout.split('\n').filter((l) => l !== '').map((l) => l.split(' ').at(-1))).toEqual(['snapshots', 'volumes'])
  })

  it('snapshot to template: exactly the install file and template.properties over NFS, byte for byte', async () => {
    qcow2Snapshot(join(exported, 'snapshots/2/5/snap-1'), 8, 96)
    const made = await finished(d, await submit(d, { kind: 'snapshotToTemplate', store: 'nfs', snapshot: 'snapshots/2/5/snap-1', accountId: 2, id: 201, name: 'tmpl-201', description: 'from a snapshot' }))
    expect(made).toMatchObject({ state: 'DOWNLOADED', result: { format: 'qcow2', virtualSize: 96 * 1024 * 1024 } })
    expect(made.result.installPath).toMatch(/^template\/tmpl\/2\/201\/[0-9a-f-]{36}\.qcow2$/)
    await expectInstallOverNfs(made.result.installPath, { id: 201, name: 'tmpl-201', virtualSize: 96 * 1024 * 1024 })
    expect(`{SHA-256}${sha256(await nfsRead(made.result.installPath))}`).toBe(made.result.checksum)
  })

  it('a template copied in from another store reads back over NFS as its source on disk', async () => {
    qcow2Snapshot(join(local, 'snapshots/2/6/snap-2'), 4, 32)
    const made = await finished(d, await submit(d, { kind: 'snapshotToTemplate', store: 'local', snapshot: 'snapshots/2/6/snap-2', accountId: 2, id: 202, name: 'tmpl-202' }))
    expect(made.state).toBe('DOWNLOADED')
    const copied = await finished(d, await submit(d, { kind: 'copy', from: { store: 'local', path: 'template/tmpl/2/202' }, to: { store: 'nfs' } }))
    expect(copied.state).toBe('DOWNLOADED')
    await expectInstallOverNfs(made.result.installPath, { id: 202, name: 'tmpl-202', virtualSize: 32 * 1024 * 1024 })
    expect(sha256(await nfsRead(made.result.installPath))).toBe(sha256(readFileSync(join(local, made.result.installPath))))
    expect((await api(d, 'GET', '/v1/stores/nfs/templates')).body.installs.map((i: { id: number }) => i.id)).toEqual([201, 202])
  })

  it('while a template is made, NFS listings show a temporary file or the whole install, never a part of it', async () => {
    qcow2Snapshot(join(exported, 'snapshots/2/7/snap-3'), 128, 128)
    const id = await submit(d, { kind: 'snapshotToTemplate', store: 'nfs', snapshot: 'snapshots/2/7/snap-3', accountId: 2, id: 203, name: 'tmpl-203' })
    const listings: NfsEntry[][] = []
    for (let i = 0; i < 2000; i++) {
      const state = (await api(d, 'GET', `/v1/jobs/${id}`)).body.state
      if (state === 'DOWNLOADED' || state === 'DOWNLOAD_ERROR') break
      // The directory appears once the job has started; before that the listing fails.
      const listing = await nfsList('template/tmpl/2/203').catch(() => undefined)
      if (listing !== undefined) listings.push(listing)
    }
    const made = await finished(d, id)
    expect(made.state).toBe('DOWNLOADED')
    const install = basename(made.result.installPath)
    const size = statSync(join(exported, made.result.installPath)).size
    for (const listing of listings) {
      for (const e of listing) expect(TEMP.test(e.name) || e.name === install || e.name === 'template.properties', e.name).toBe(true)
      const found = listing.find((e) => e.name === install)
      if (found !== undefined) expect(found.size).toBe(size)
      if (listing.some((e) => e.name === 'template.properties')) expect(found).toBeDefined()
    }
    // The copy (128 MiB, hashed, read back, fsynced) outlasts a listing: it was seen under way.
    expect(listings.some((l) => l.some((e) => TEMP.test(e.name)))).toBe(true)
    await expectInstallOverNfs(made.result.installPath, { id: 203, name: 'tmpl-203', virtualSize: 128 * 1024 * 1024 })
  })

  it('failed jobs leave nothing half-written over NFS: a copy of a missing path, a compressed snapshot', async () => {
    const absent = await finished(d, await submit(d, { kind: 'copy', from: { store: 'local', path: 'template/tmpl/2/999' }, to: { store: 'nfs' } }))
    expect(absent).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code: 'ERR_NOT_FOUND' } })
    // This one fails after its bytes were copied to a temporary file: the sniffer sees gzip.
    qcow2Snapshot(join(local, 'snapshots/2/8/plain'), 1, 16)
    mkdirSync(join(exported, 'snapshots/2/8'), { recursive: true })
    writeFileSync(join(exported, 'snapshots/2/8/snap-4'), gzipSync(readFileSync(join(local, 'snapshots/2/8/plain'))))
    const gz = await finished(d, await submit(d, { kind: 'snapshotToTemplate', store: 'nfs', snapshot: 'snapshots/2/8/snap-4', accountId: 2, id: 204, name: 'tmpl-204' }))
    expect(gz).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code: 'ERR_FORMAT_UNSUPPORTED' } })
    expect(await nfsList('template/tmpl/2/204')).toEqual([])
    const everything = await nfsList('template', true)
    expect(everything.filter((e) => TEMP.test(basename(e.name)))).toEqual([])
    expect(everything.filter((e) => !e.dir).map((e) => e.name).filter((n) => n.endsWith('template.properties')))
      .toEqual(['tmpl/2/201/template.properties', 'tmpl/2/202/template.properties', 'tmpl/2/203/template.properties'])
    expect(everything.map((e) => e.name).filter((n) => /^tmpl\/2\/[0-9]+$/.test(n))).toEqual(['tmpl/2/201', 'tmpl/2/202', 'tmpl/2/203', 'tmpl/2/204'])
  })
})
