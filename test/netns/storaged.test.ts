import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../../src/core/exec.ts'
import { checkoutRoot } from '../../src/lab/checkout.ts'
import type { Daemon } from '../../src/lab/daemon.ts'
import { StorageLab } from '../../src/lab/storage-lab.ts'
import { api, finished, putStore, submit } from '../helpers/storaged.ts'

/**
 * storaged in the storage lab with two `path` stores: the stores' config (generations, If-Match,
 * every problem listed, a failed mount changes nothing), the local jobs (snapshot to template,
 * copy between stores verified, listing, checksum, delete), and paths that try to leave a store.
 */

let lab: StorageLab
let d: Daemon
let s1: string
let s2: string

beforeAll(async () => {
  lab = await StorageLab.create()
  s1 = lab.mkdir('s1')
  s2 = lab.mkdir('s2')
  d = await lab.startStoraged()
  await putStore(d, 's1', s1)
  await putStore(d, 's2', s2)
}, 60_000)

afterAll(async () => {
  await lab?.destroy()
})

function qcow2(path: string, size: string): void {
  mkdirSync(join(path, '..'), { recursive: true })
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, size])
}

describe('stores', () => {
  it('makes snapshots/ and volumes/ in a new store and reports its health', async () => {
    expect(existsSync(join(s1, 'snapshots'))).toBe(true)
    expect(existsSync(join(s1, 'volumes'))).toBe(true)
    // The health check runs right after the edit that added the store.
    let status = (await api(d, 'GET', '/v1/status')).body
    for (let i = 0; i < 50 && status.stores.some((s: { checkedAt: string | null }) => s.checkedAt === null); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      status = (await api(d, 'GET', '/v1/status')).body
    }
    const health = status.stores.find((s: { id: string }) => s.id === 's1')
    expect(health).toMatchObject({ driver: 'path', mounted: true, writable: true, lastError: null })
    expect(health.freeBytes).toBeGreaterThan(0)
    expect(status.ready).toBe(true)
    expect((await api(d, 'GET', '/readyz')).status).toBe(200)
  })

  it('refuses a bad document with every problem listed, and changes nothing', async () => {
    const before = await api(d, 'GET', '/v1/config')
    const r = await api(d, 'PUT', '/v1/config', { stores: [{ id: 'a', url: 'ftp://x/y' }, { id: 'a', url: `file://${s1}`, nfsVersion: '3' }] })
    expect(r.status).toBe(400)
    expect(r.body.error.code).toBe('ERR_CONFIG_INVALID')
    expect(r.body.error.diagnostics.map((p: { path: string; code: string }) => `${p.path} ${p.code}`)).toEqual([
      '/stores/0/url ERR_BAD_STORE_URL', '/stores/1/id ERR_DUPLICATE_ID', '/stores/1/nfsVersion ERR_STORE_OPTION',
    ])
    expect(await api(d, 'GET', '/v1/config')).toMatchObject({ body: before.body })
  })

  it('a store that cannot be attached is refused and changes nothing', async () => {
    const before = (await api(d, 'GET', '/v1/config')).body
    const r = await api(d, 'PUT', '/v1/config/stores/gone', { id: 'gone', url: `file://${join(lab.dir, 'missing')}` })
    expect(r.status).toBe(422)
    expect(r.body.error.code).toBe('ERR_MOUNT_FAILED')
    expect((await api(d, 'GET', '/v1/config')).body).toEqual(before)
  })

  it('If-Match on the generation: a stale edit is refused with 412', async () => {
    const { generation } = (await api(d, 'GET', '/v1/config')).body
    const dir = lab.mkdir('s3')
    const stale = await api(d, 'PUT', '/v1/config/stores/s3', { id: 's3', url: `file://${dir}` }, { 'if-match': `"${generation - 1}"` })
    expect(stale.status).toBe(412)
    const fresh = await api(d, 'PUT', '/v1/config/stores/s3', { id: 's3', url: `file://${dir}` }, { 'if-match': `"${generation}"` })
    expect(fresh).toMatchObject({ status: 200, body: { generation: generation + 1 } })
    expect((await api(d, 'DELETE', '/v1/config/stores/s3')).status).toBe(200)
  })

  it('keeps its stores across a crash (SIGKILL) and restart', async () => {
    const before = (await api(d, 'GET', '/v1/config')).body
    await d.kill()
    await d.start()
    expect((await api(d, 'GET', '/v1/config')).body).toEqual(before)
    expect((await api(d, 'GET', '/v1/status')).body.stores.map((s: { id: string; mounted: boolean }) => [s.id, s.mounted])).toEqual([['s1', true], ['s2', true]])
  })
})

describe('jobs on stored objects', () => {
  it('snapshot to template, copy to another store (verified), listed in both', async () => {
    qcow2(join(s1, 'snapshots/2/5/snap-1'), '96M')
    const made = await finished(d, await submit(d, { kind: 'snapshotToTemplate', store: 's1', snapshot: 'snapshots/2/5/snap-1', accountId: 2, id: 201, name: 'tmpl-201', description: 'from a snapshot' }))
    expect(made).toMatchObject({ state: 'DOWNLOADED', percent: 100, result: { format: 'qcow2', virtualSize: 96 * 1024 * 1024 } })
    const installPath: string = made.result.installPath
    expect(installPath).toMatch(/^template\/tmpl\/2\/201\/[0-9a-f-]{36}\.qcow2$/)
    const props = readFileSync(join(s1, 'template/tmpl/2/201/template.properties'), 'latin1')
    for (const line of ['qcow2=true', 'id=201', 'uniquename=tmpl-201', `virtualsize=${96 * 1024 * 1024}`, 'hvm=true', 'public=false', 'description=from a snapshot']) expect(props).toContain(`${line}\n`)

    const copied = await finished(d, await submit(d, { kind: 'copy', from: { store: 's1', path: 'template/tmpl/2/201' }, to: { store: 's2' } }))
    expect(copied.state).toBe('DOWNLOADED')
    expect(readFileSync(join(s2, installPath))).toEqual(readFileSync(join(s1, installPath)))
    for (const s of ['s1', 's2']) {
      const list = (await api(d, 'GET', `/v1/stores/${s}/templates`)).body
      expect(list.installs).toEqual([expect.objectContaining({ accountId: 2, id: 201, installPath, uniqueName: 'tmpl-201', format: 'qcow2', virtualSize: 96 * 1024 * 1024 })])
    }
    expect(readdirSync(join(s2, 'template/tmpl/2/201')).filter((n) => n.startsWith('dnld'))).toEqual([])
  })

  it('an install without a properties file, or with one that lacks virtualsize, is not listed', async () => {
    mkdirSync(join(s2, 'template/tmpl/3/301'), { recursive: true })
    mkdirSync(join(s2, 'template/tmpl/3/302'), { recursive: true })
    writeFileSync(join(s2, 'template/tmpl/3/302/template.properties'), 'id=302\nuniquename=x\nqcow2=true\nqcow2.filename=x.qcow2\nqcow2.size=5\nqcow2.virtualsize=9\n')
    const list = (await api(d, 'GET', '/v1/stores/s2/templates')).body
    expect(list.installs.map((i: { id: number }) => i.id)).toEqual([201])
    expect(list.notListed.map((n: { path: string }) => n.path)).toEqual(['template/tmpl/3/301', 'template/tmpl/3/302'])
  })

  it('checksum of a stored file matches sha256sum', async () => {
    const installPath = (await api(d, 'GET', '/v1/stores/s2/templates')).body.installs[0].installPath
    const job = await finished(d, await submit(d, { kind: 'checksum', store: 's2', path: installPath }))
    const want = execFileSync('sha256sum', [join(s2, installPath)], { encoding: 'utf8' }).split(' ')[0]
    expect(job.result.checksum).toBe(`{SHA-256}${want}`)
    const md5 = await finished(d, await submit(d, { kind: 'checksum', store: 's2', path: installPath, algorithm: 'MD5' }))
    expect(md5.result.checksum).toBe(`{MD5}${execFileSync('md5sum', [join(s2, installPath)], { encoding: 'utf8' }).split(' ')[0]}`)
  })

  it('a copy onto a store that is gone fails cleanly; the copy job refuses the same store', async () => {
    const same = await api(d, 'POST', '/v1/jobs', { kind: 'copy', from: { store: 's1', path: 'template/tmpl/2/201' }, to: { store: 's1' } })
    expect(same.status).toBe(400)
    expect(same.body.error.diagnostics.map((p: { code: string }) => p.code)).toEqual(['ERR_SAME_STORE'])
    const missing = await api(d, 'POST', '/v1/jobs', { kind: 'copy', from: { store: 's1', path: 'template/tmpl/2/999' }, to: { store: 'nope' } })
    expect(missing.body.error.diagnostics.map((p: { path: string; code: string }) => `${p.path} ${p.code}`)).toEqual(['/to/store ERR_NO_SUCH_STORE'])
    const absent = await finished(d, await submit(d, { kind: 'copy', from: { store: 's1', path: 'template/tmpl/2/999' }, to: { store: 's2' } }))
    expect(absent).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code: 'ERR_NOT_FOUND' } })
  })

  it('delete removes the properties first and then the install; it is no longer listed', async () => {
    const job = await finished(d, await submit(d, { kind: 'delete', store: 's2', path: 'template/tmpl/2/201' }))
    expect(job.state).toBe('DOWNLOADED')
    expect(job.result.removed[0]).toBe('template/tmpl/2/201/template.properties')
    expect(existsSync(join(s2, 'template/tmpl/2/201'))).toBe(false)
    expect((await api(d, 'GET', '/v1/stores/s2/templates')).body.installs).toEqual([])
    expect(existsSync(join(s1, 'template/tmpl/2/201/template.properties'))).toBe(true)
  })
})

describe('paths that try to leave a store', () => {
  it.each([
    ['..', { kind: 'delete', store: 's1', path: '../s2' }],
    ['absolute', { kind: 'delete', store: 's1', path: '/etc/passwd' }],
    ['encoded', { kind: 'checksum', store: 's1', path: 'template/tmpl/2/201/%2e%2e/%2e%2e' }],
    ['NUL', { kind: 'checksum', store: 's1', path: 'template/tmpl/2/201/a\u0000b' }],
    ['outside the layout', { kind: 'delete', store: 's1', path: 'snapshots' }],
    ['the store root', { kind: 'delete', store: 's1', path: 'template/tmpl' }],
  ])('refuses %s before any job runs', async (_what, request) => {
    const r = await api(d, 'POST', '/v1/jobs', request)
    expect(r.status).toBe(400)
    expect(r.body.error.diagnostics.map((p: { code: string }) => p.code)).toEqual(['ERR_PATH_OUTSIDE_LAYOUT'])
  })

  it('a symlink planted in a store that points out is never followed', async () => {
    const secret = join(lab.mkdir('outside'), 'secret')
    writeFileSync(secret, 'not yours\n')
    mkdirSync(join(s1, 'snapshots/4/7'), { recursive: true })
    symlinkSync(secret, join(s1, 'snapshots/4/7/link'))
    symlinkSync(join(lab.dir, 'outside'), join(s1, 'snapshots/4/8'))
    const viaFile = await finished(d, await submit(d, { kind: 'checksum', store: 's1', path: 'snapshots/4/7/link' }))
    expect(viaFile).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code: 'ERR_PATH_OUTSIDE_STORE' } })
    const viaDir = await finished(d, await submit(d, { kind: 'snapshotToTemplate', store: 's1', snapshot: 'snapshots/4/8/secret', accountId: 4, id: 400, name: 'x' }))
    expect(viaDir).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code: 'ERR_PATH_OUTSIDE_STORE' } })
    const copy = await finished(d, await submit(d, { kind: 'copy', from: { store: 's1', path: 'snapshots/4/8' }, to: { store: 's2' } }))
    expect(copy).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code: 'ERR_PATH_OUTSIDE_STORE' } })
    const del = await finished(d, await submit(d, { kind: 'delete', store: 's1', path: 'snapshots/4/8/secret' }))
    expect(del).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code: 'ERR_PATH_OUTSIDE_STORE' } })
    expect(readFileSync(secret, 'utf8')).toBe('not yours\n')
    expect(existsSync(join(s2, 'snapshots/4/8'))).toBe(false)
  })
})

describe('svmctl storage', () => {
  it('shows the status, the stores and a listing', async () => {
    const svmctl = async (...args: string[]) => {
      const r = await run(process.execPath, [join(checkoutRoot(), 'dist/cli/svmctl.js'), '--socket', d.socket, '--token-file', join(d.dir, 'token'), 'storage', ...args], { okCodes: [0, 1, 2] })
      return r
    }
    const status = await svmctl('status')
    expect(status.exitCode).toBe(0)
    expect(status.stdout).toMatch(/^ready, generation \d+\nstores:\n  s1 +mounted, writable, /)
    const listing = await svmctl('templates', 's1')
    expect(listing.stdout).toContain('tmpl-201')
    const refused = await svmctl('store', 'put', 'bad', '-')
    expect(refused.exitCode).toBe(2)
  })
})
