import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Daemon } from '../../src/lab/daemon.ts'
import { STORAGE_LAB_ADDR, StorageLab } from '../../src/lab/storage-lab.ts'
import { startImageServerProcess } from '../helpers/image-http-server.ts'
import { api, finished, putStore, submit } from '../helpers/storaged.ts'

/**
 * Downloads through storaged from an image server in another namespace, with real images made by
 * qemu-img, xorriso and the compressors: checksums of each kind, resumes after dropped
 * connections and after a SIGKILL of the daemon, failures that leave nothing behind, cancel,
 * decompression, format detection, redirects and Basic auth.
 */

let lab: StorageLab
let d: Daemon
let store: string
let web: string
let base: string

const MiB = 1024 * 1024
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')
const digest = (algorithm: string, path: string) => createHash(algorithm).update(readFileSync(path)).digest('hex')
const tool = (file: string, args: string[]) => execFileSync(file, args, { stdio: ['ignore', 'ignore', 'pipe'] })

/** A qcow2 holding `dataMiB` of random data on a disk of `virtual`. */
function makeQcow2(name: string, dataMiB: number, virtual: string): string {
  const raw = join(web, `${name}.raw`)
  writeFileSync(raw, randomBytes(dataMiB * MiB))
  const out = join(web, name)
  tool('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, out])
  tool('qemu-img', ['resize', '-q', '-f', 'qcow2', out, virtual])
  return out
}

let accountSeq = 10
/** A download request for a new template id. */
function template(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const id = ++accountSeq
  return { kind: 'download', store: 's', resource: 'template', url, accountId: 2, id, name: `tmpl-${id}`, ...extra }
}

/** Files in an install directory (temporary ones included). */
const filesIn = (rel: string) => (existsSync(join(store, rel)) ? readdirSync(join(store, rel)).sort() : [])

beforeAll(async () => {
  lab = await StorageLab.create()
  store = lab.mkdir('store')
  web = lab.mkdir('web')
  makeQcow2('small.qcow2', 2, '64M')
  makeQcow2('big.qcow2', 24, '1G')
  for (const [tool_, ext] of [['gzip', 'gz'], ['bzip2', 'bz2'], ['xz', 'xz']] as const) {
    writeFileSync(join(web, `small.qcow2.${ext}`), execFileSync(tool_, ['-c', join(web, 'small.qcow2')], { maxBuffer: 64 * MiB }))
  }
  tool('zip', ['-q', '-j', join(web, 'small.qcow2.zip'), join(web, 'small.qcow2')])
  tool('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'vpc', join(web, 'small.qcow2'), join(web, 'small.vhd')])
  tool('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'vmdk', join(web, 'small.qcow2'), join(web, 'small.vmdk')])
  writeFileSync(join(web, 'readme.txt'), 'an ISO\n')
  tool('xorriso', ['-as', 'mkisofs', '-quiet', '-o', join(web, 'tools.iso'), join(web, 'readme.txt')])
  writeFileSync(join(web, 'private.qcow2'), readFileSync(join(web, 'small.qcow2')))
  const behaviours = join(lab.mkdir('server'), 'behaviours.json')
  writeFileSync(behaviours, JSON.stringify({ '/private.qcow2': { auth: 'user:s3cret' } }))
  const server = await startImageServerProcess({ dir: web, netns: lab.ns.web, port: 8080, config: behaviours })
  lab.adopt(server.process)
  base = `http://${STORAGE_LAB_ADDR.web}:8080`
  d = await lab.startStoraged({ config: { download: { idleTimeoutSeconds: 2, connectTimeoutSeconds: 2, retries: 2, retryDelaySeconds: 0.05 } } })
  await putStore(d, 's', store)
}, 120_000)

afterAll(async () => {
  await lab?.destroy()
})

describe('checksums', () => {
  it.each([
    ['{SHA-256}', 'sha256'], ['{SHA-1}', 'sha1'], ['{SHA-512}', 'sha512'], ['{MD5}', 'md5'], ['', 'md5'],
  ])('a correct %s checksum installs the template, byte for byte', async (prefix, algorithm) => {
    const file = join(web, 'small.qcow2')
    const job = await finished(d, await submit(d, template(`${base}/small.qcow2`, { checksum: `${prefix}${digest(algorithm, file)}`, format: 'qcow2' })))
    expect(job).toMatchObject({ state: 'DOWNLOADED', percent: 100, error: null, result: { format: 'qcow2', virtualSize: 64 * MiB, size: readFileSync(file).length } })
    expect(sha256(join(store, job.result.installPath))).toBe(sha256(file))
    const dir = job.result.installPath.split('/').slice(0, -1).join('/')
    expect(filesIn(dir)).toEqual([job.result.installPath.split('/').at(-1), 'template.properties'].sort())
  })

  it('no checksum: one is computed (SHA-256) and reported', async () => {
    const job = await finished(d, await submit(d, template(`${base}/small.qcow2`)))
    expect(job.result.checksum).toBe(`{SHA-256}${sha256(join(web, 'small.qcow2'))}`)
  })

  it('a wrong checksum fails and leaves nothing in the install directory', async () => {
    const request = template(`${base}/small.qcow2`, { checksum: `{SHA-256}${'0'.repeat(64)}` })
    const job = await finished(d, await submit(d, request))
    expect(job).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code: 'ERR_CHECKSUM_MISMATCH' } })
    expect(filesIn(`template/tmpl/2/${request['id']}`)).toEqual([])
    expect((await api(d, 'GET', '/v1/stores/s/templates')).body.installs.map((i: { id: number }) => i.id)).not.toContain(request['id'])
  })

  it('a malformed checksum is refused before anything starts', async () => {
    const r = await api(d, 'POST', '/v1/jobs', template(`${base}/small.qcow2`, { checksum: '{SHA-3}abc' }))
    expect(r.status).toBe(400)
    expect(r.body.error.diagnostics.map((p: { path: string; code: string }) => `${p.path} ${p.code}`)).toEqual(['/checksum ERR_CHECKSUM_ALGORITHM'])
  })
})

describe('interrupted transfers', () => {
  it('three dropped connections are resumed with Range: the right file, nothing fetched twice', async () => {
    const job = await finished(d, await submit(d, template(`${base}/big.qcow2?drop=${5 * MiB}&times=3`, { checksum: `{SHA-256}${sha256(join(web, 'big.qcow2'))}` })))
    expect(job).toMatchObject({ state: 'DOWNLOADED', result: { resumes: 3, refetchedBytes: 0 } })
    expect(sha256(join(store, job.result.installPath))).toBe(sha256(join(web, 'big.qcow2')))
  })

  it('a server that ignores Range restarts from zero, and the file is still right', async () => {
    const job = await finished(d, await submit(d, template(`${base}/big.qcow2?drop=${3 * MiB}&times=1&ignoreRange=1`)))
    expect(job.state).toBe('DOWNLOADED')
    expect(job.result.refetchedBytes).toBeGreaterThan(0)
    expect(sha256(join(store, job.result.installPath))).toBe(sha256(join(web, 'big.qcow2')))
  })

  it('storaged killed mid-download resumes the job after a restart; nothing half is listed meanwhile', async () => {
    const request = template(`${base}/big.qcow2?rate=${4 * MiB}`, { checksum: `{SHA-256}${sha256(join(web, 'big.qcow2'))}` })
    const id = await submit(d, request)
    for (let i = 0; i < 100 && (await api(d, 'GET', `/v1/jobs/${id}`)).body.bytes < 4 * MiB; i++) await new Promise((r) => setTimeout(r, 100))
    await d.kill()
    const dir = `template/tmpl/2/${request['id']}`
    const partial = filesIn(dir)
    expect(partial).toHaveLength(1)
    expect(partial[0]).toMatch(/^dnld[0-9]+tmp_$/)
    await d.start()
    expect((await api(d, 'GET', '/v1/stores/s/templates')).body.installs.map((i: { id: number }) => i.id)).not.toContain(request['id'])
    const job = await finished(d, id)
    expect(job.state).toBe('DOWNLOADED')
    expect(job.result.refetchedBytes).toBe(0)
    expect(sha256(join(store, job.result.installPath))).toBe(sha256(join(web, 'big.qcow2')))
    expect(filesIn(dir).filter((n) => n.startsWith('dnld'))).toEqual([])
  }, 60_000)

  it.each([
    ['404', `/missing.qcow2`, {}, 'ERR_DOWNLOAD_HTTP'],
    ['a server that sends headers and then nothing', '/big.qcow2?stall=0', {}, 'ERR_DOWNLOAD_RESUME'],
    ['a file over the maximum', `/big.qcow2`, { maxBytes: 10 * MiB }, 'ERR_DOWNLOAD_TOO_LARGE'],
    ['a redirect the job does not allow', `/big.qcow2?redirect=/small.qcow2`, {}, 'ERR_DOWNLOAD_REDIRECT'],
  ])('%s fails with a clear error and leaves no file', async (_what, path, extra, code) => {
    const request = template(`${base}${path}`, extra)
    const job = await finished(d, await submit(d, request))
    expect(job).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code } })
    expect(filesIn(`template/tmpl/2/${request['id']}`)).toEqual([])
  }, 30_000)

  it('cancel stops a running download and removes its temporary file', async () => {
    const request = template(`${base}/big.qcow2?rate=${2 * MiB}`)
    const id = await submit(d, request)
    for (let i = 0; i < 100 && (await api(d, 'GET', `/v1/jobs/${id}`)).body.bytes < MiB; i++) await new Promise((r) => setTimeout(r, 100))
    const cancelled = await api(d, 'DELETE', `/v1/jobs/${id}`)
    expect(cancelled.body).toMatchObject({ state: 'ABANDONED', error: { code: 'ERR_JOB_CANCELLED' } })
    expect(filesIn(`template/tmpl/2/${request['id']}`)).toEqual([])
  })
})

describe('formats', () => {
  it.each(['gz', 'bz2', 'xz', 'zip'])('a .%s download is verified as fetched, then unpacked and installed as qcow2', async (ext) => {
    const file = join(web, `small.qcow2.${ext}`)
    const job = await finished(d, await submit(d, template(`${base}/small.qcow2.${ext}`, { checksum: `{SHA-256}${sha256(file)}`, format: 'qcow2' })))
    expect(job).toMatchObject({ state: 'DOWNLOADED', result: { format: 'qcow2', virtualSize: 64 * MiB } })
    expect(sha256(join(store, job.result.installPath))).toBe(sha256(join(web, 'small.qcow2')))
    expect(job.result.checksum).toBe(`{SHA-256}${sha256(file)}`)
  })

  it.each([
    ['small.vhd', 'vhd', 'vhd'], ['small.vmdk', 'vmdk', 'vmdk'],
  ])('%s is detected as %s with the virtual size from its own header', async (file, declared, format) => {
    const job = await finished(d, await submit(d, template(`${base}/${file}`, { format: declared })))
    expect(job).toMatchObject({ state: 'DOWNLOADED', result: { format } })
    expect(job.result.virtualSize).toBeGreaterThanOrEqual(64 * MiB)
    expect(job.result.installPath).toMatch(new RegExp(`\\.${format}$`))
  })

  it('an ISO keeps its name and gets its size from the volume descriptor', async () => {
    const request = { kind: 'download', store: 's', resource: 'iso', url: `${base}/tools.iso`, accountId: 3, id: 900, name: 'Tools ISO', format: 'iso' }
    const job = await finished(d, await submit(d, request))
    expect(job).toMatchObject({ state: 'DOWNLOADED', result: { format: 'iso', installPath: 'template/tmpl/3/900/Tools_ISO.iso' } })
    expect(job.result.virtualSize).toBe(readFileSync(join(web, 'tools.iso')).length)
  })

  it('a declared format the content disagrees with is an error, and nothing is installed', async () => {
    const request = template(`${base}/small.vhd`, { format: 'qcow2' })
    const job = await finished(d, await submit(d, request))
    expect(job).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code: 'ERR_FORMAT_MISMATCH' } })
    expect(filesIn(`template/tmpl/2/${request['id']}`)).toEqual([])
  })

  it('a volume goes to volumes/<account>/<id> with volume.properties and is listed', async () => {
    const request = { kind: 'download', store: 's', resource: 'volume', url: `${base}/small.qcow2`, accountId: 4, id: 77, name: 'vol-77' }
    const job = await finished(d, await submit(d, request))
    expect(job.result.installPath).toMatch(/^volumes\/4\/77\/[0-9a-f-]{36}\.qcow2$/)
    expect(filesIn('volumes/4/77')).toContain('volume.properties')
    expect((await api(d, 'GET', '/v1/stores/s/volumes')).body.installs).toEqual([expect.objectContaining({ accountId: 4, id: 77, format: 'qcow2' })])
  })
})

describe('HTTP', () => {
  it('follows a redirect when the job allows it', async () => {
    const job = await finished(d, await submit(d, template(`${base}/x?redirect=/small.qcow2`, { followRedirects: true })))
    expect(job.state).toBe('DOWNLOADED')
  })

  it('sends Basic auth from the URL and never shows the password', async () => {
    const refused = await finished(d, await submit(d, template(`${base}/private.qcow2`)))
    expect(refused).toMatchObject({ state: 'DOWNLOAD_ERROR', error: { code: 'ERR_DOWNLOAD_HTTP' } })
    const job = await finished(d, await submit(d, template(`http://user:s3cret@${STORAGE_LAB_ADDR.web}:8080/private.qcow2`)))
    expect(job.state).toBe('DOWNLOADED')
    expect(JSON.stringify(job)).not.toContain('s3cret')
    expect(JSON.stringify((await api(d, 'GET', '/v1/jobs')).body)).not.toContain('s3cret')
    expect(d.output()).not.toContain('s3cret')
  })
})
