import { execFileSync } from 'node:child_process'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../../src/core/exec.ts'
import type { Daemon } from '../../src/lab/daemon.ts'
import { STORAGE_LAB_ADDR, StorageLab } from '../../src/lab/storage-lab.ts'
import { encodeGrant, signUpload } from '../../src/storage/upload/index.ts'
import { api, putStore } from '../helpers/storaged.ts'

/**
 * Uploads and extracts through storaged's public listener (10.201.0.1:8081 in the storage VM's
 * namespace), from curl in the web namespace as a browser would send them: signed grants
 * (valid, expired, forged, replayed, wrong format, oversize), the same install path as
 * downloads, extracts with Range and signed URLs, and HTTPS once a certificate is set.
 */

let lab: StorageLab
let d: Daemon
let store: string
let files: string
const KEY = 'upload-key-0123456789abcdef'
const PUBLIC = `http://${STORAGE_LAB_ADDR.ssvm}:8081`
const MiB = 1024 * 1024
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')
let entity = 500

interface Signed { uuid: string; headers: string[]; id: number }

/** A grant for a new template id, signed for `<PUBLIC>/upload/<uuid>`. */
function grant(extra: { format?: string; maxBytes?: number; checksum?: string; expires?: string; kind?: 'template' | 'volume' } = {}, key = KEY): Signed {
  const uuid = randomUUID()
  const id = ++entity
  const metadata = encodeGrant({
    uuid, storeId: 's', kind: extra.kind ?? 'template', accountId: 2, entityId: id, name: `up-${id}`,
    format: (extra.format ?? 'qcow2') as 'qcow2', maxBytes: extra.maxBytes ?? 64 * MiB, ...(extra.checksum === undefined ? {} : { checksum: extra.checksum }),
  })
  const expires = extra.expires ?? new Date(Date.now() + 600_000).toISOString()
  const signature = signUpload(key, metadata, `${PUBLIC}/upload/${uuid}`, expires)
  return { uuid, id, headers: ['-H', `X-signature: ${signature}`, '-H', `X-metadata: ${metadata}`, '-H', `X-expires: ${expires}`] }
}

/** curl from the web namespace; answers status and body. */
async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const r = await run('/usr/bin/curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', '--max-time', '30', ...args], { netns: lab.ns.web, okCodes: [0, 22, 52, 56] })
  const cut = r.stdout.lastIndexOf('\n')
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) }
}

async function upload(g: Signed, file: string, base = PUBLIC, extra: string[] = []): Promise<{ status: number; body: any }> {
  const r = await curl([...g.headers, ...extra, '-F', `file=@${file}`, `${base}/upload/${g.uuid}`])
  let body: unknown = r.body
  try { body = JSON.parse(r.body) } catch { /* not JSON */ }
  return { status: r.status, body }
}

const installDir = (id: number) => join(store, `template/tmpl/2/${id}`)
const leftovers = (id: number) => (existsSync(installDir(id)) ? readdirSync(installDir(id)) : [])

beforeAll(async () => {
  lab = await StorageLab.create()
  store = lab.mkdir('store')
  files = lab.mkdir('files')
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(files, 'disk.qcow2'), '128M'])
  const raw = join(files, 'data.raw')
  writeFileSync(raw, randomBytes(3 * MiB))
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, join(files, 'data.qcow2')])
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vpc', raw, join(files, 'data.vhd')])
  d = await lab.startStoraged({ config: { uploads: { listen: { host: STORAGE_LAB_ADDR.ssvm, port: 8081 } } } })
  await putStore(d, 's', store)
}, 60_000)

afterAll(async () => {
  await lab?.destroy()
})

describe('uploads', () => {
  it('without a key every upload is refused', async () => {
    const r = await upload(grant(), join(files, 'disk.qcow2'))
    expect(r.status).toBe(503)
    expect(r.body.error.code).toBe('ERR_UPLOAD_DISABLED')
  })

  it('a signed upload is installed as a download would be, and listed', async () => {
    expect((await api(d, 'PUT', '/v1/uploads/key', { key: KEY, publicBaseUrls: [PUBLIC] })).status).toBe(204)
    const file = join(files, 'data.qcow2')
    const g = grant({ checksum: `{SHA-256}${sha256(file)}` })
    const r = await upload(g, file)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ uuid: g.uuid, result: { format: 'qcow2', virtualSize: 3 * MiB, checksum: `{SHA-256}${sha256(file)}` } })
    expect(sha256(join(store, r.body.result.installPath))).toBe(sha256(file))
    expect(readFileSync(join(installDir(g.id), 'template.properties'), 'latin1')).toContain(`uniquename=up-${g.id}\n`)
    const listed = (await api(d, 'GET', '/v1/stores/s/templates')).body.installs
    expect(listed.map((i: { id: number }) => i.id)).toContain(g.id)
    expect(JSON.stringify((await api(d, 'GET', '/v1/uploads')).body)).not.toContain(KEY)
  })

  it('the same grant a second time is refused (single use)', async () => {
    const g = grant()
    expect((await upload(g, join(files, 'disk.qcow2'))).status).toBe(200)
    const again = await upload(g, join(files, 'disk.qcow2'))
    expect(again.status).toBe(409)
    expect(again.body.error.code).toBe('ERR_UPLOAD_REPLAYED')
  })

  it('a replayed grant is still refused after storaged restarts', async () => {
    const g = grant()
    expect((await upload(g, join(files, 'disk.qcow2'))).status).toBe(200)
    await d.kill()
    await d.start()
    expect((await upload(g, join(files, 'disk.qcow2'))).body.error.code).toBe('ERR_UPLOAD_REPLAYED')
  })

  it.each([
    ['expired', () => grant({ expires: new Date(Date.now() - 1000).toISOString() }), 403, 'ERR_UPLOAD_EXPIRED'],
    ['forged (another key)', () => grant({}, 'not-the-key-0123456789'), 403, 'ERR_UPLOAD_SIGNATURE'],
    ['oversize', () => grant({ maxBytes: 1024 }), 413, 'ERR_UPLOAD_TOO_LARGE'],
  ])('%s: refused, nothing installed', async (_what, make, status, code) => {
    const g = make()
    const r = await upload(g, join(files, 'data.qcow2'))
    expect(r.status).toBe(status)
    expect(r.body.error.code).toBe(code)
    expect(leftovers(g.id)).toEqual([])
  })

  it('a declared format the bytes disagree with is refused after the upload, and nothing stays', async () => {
    const g = grant({ format: 'qcow2' })
    const r = await upload(g, join(files, 'data.vhd'))
    expect(r.status).toBe(422)
    expect(r.body.error.code).toBe('ERR_FORMAT_MISMATCH')
    expect(leftovers(g.id)).toEqual([])
  })

  it('a wrong checksum in the grant is refused, and nothing stays', async () => {
    const g = grant({ checksum: `{SHA-256}${'1'.repeat(64)}` })
    const r = await upload(g, join(files, 'data.qcow2'))
    expect(r.body.error.code).toBe('ERR_CHECKSUM_MISMATCH')
    expect(leftovers(g.id)).toEqual([])
  })

  it('answers a CORS preflight', async () => {
    const r = await run('/usr/bin/curl', ['-sS', '-D', '-', '-o', '/dev/null', '-X', 'OPTIONS', '-H', 'Origin: https://cloud.example', '-H', 'Access-Control-Request-Method: POST',
      '-H', 'Access-Control-Request-Headers: x-signature, x-metadata, x-expires', `${PUBLIC}/upload/${randomUUID()}`], { netns: lab.ns.web })
    expect(r.stdout).toMatch(/^access-control-allow-origin: /im)
    expect(r.stdout.toLowerCase()).toContain('x-signature')
  })
})

describe('extracts', () => {
  let installPath = ''
  beforeAll(async () => {
    installPath = (await api(d, 'GET', '/v1/stores/s/templates')).body.installs[0].installPath
  })

  it('serves a stored object with Range and a correct Content-Length, until deleted', async () => {
    const made = await api(d, 'POST', '/v1/extracts', { name: 'export-1.qcow2', store: 's', path: installPath })
    expect(made).toMatchObject({ status: 201, body: { url: '/userdata/export-1.qcow2' } })
    const whole = join(lab.dir, 'whole')
    await run('/usr/bin/curl', ['-sSf', '-o', whole, `${PUBLIC}/userdata/export-1.qcow2`], { netns: lab.ns.web })
    expect(sha256(whole)).toBe(sha256(join(store, installPath)))
    const head = await run('/usr/bin/curl', ['-sS', '-D', '-', '-o', join(lab.dir, 'part'), '-r', '100-199', `${PUBLIC}/userdata/export-1.qcow2`], { netns: lab.ns.web })
    expect(head.stdout).toMatch(/^HTTP\/1\.1 206/m)
    expect(head.stdout).toMatch(/^content-length: 100\r?$/im)
    expect(readFileSync(join(lab.dir, 'part'))).toEqual(readFileSync(join(store, installPath)).subarray(100, 200))
    expect((await api(d, 'DELETE', '/v1/extracts/export-1.qcow2')).status).toBe(204)
    expect((await curl([`${PUBLIC}/userdata/export-1.qcow2`])).status).toBe(404)
  })

  it('a signed extract URL works until it expires; a forged one never', async () => {
    const made = await api(d, 'POST', '/v1/extracts', { name: 'signed-1', store: 's', path: installPath, expiresInSeconds: 600, signed: true })
    expect(made.body.url).toMatch(/^\/userdata\/signed-1\?expires=\d+&signature=/)
    expect((await curl([`${PUBLIC}${made.body.url}`])).status).toBe(200)
    expect((await curl([`${PUBLIC}/userdata/signed-1`])).status).toBe(403)
    expect((await curl([`${PUBLIC}${made.body.url.replace(/signature=./, 'signature=A')}`])).status).toBe(403)
  })

  it.each([
    ['..', { name: 'x1', store: 's', path: '../../etc/passwd' }, 'ERR_PATH_OUTSIDE_STORE'],
    ['absolute', { name: 'x2', store: 's', path: '/etc/passwd' }, 'ERR_PATH_OUTSIDE_STORE'],
    ['a bad name', { name: '../x', store: 's', path: '' }, 'ERR_BAD_NAME'],
  ])('refuses %s', async (_what, body, code) => {
    const r = await api(d, 'POST', '/v1/extracts', { ...body, path: body.path === '' ? installPath : body.path })
    expect(r.status).toBe(400)
    expect(r.body.error.code).toBe(code)
  })
})

describe('HTTPS', () => {
  it('once a certificate is set, uploads go over HTTPS and verify against it', async () => {
    const dir = lab.mkdir('tls')
    await run('/usr/bin/openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'),
      '-days', '1', '-subj', '/CN=ssvm', '-addext', `subjectAltName=IP:${STORAGE_LAB_ADDR.ssvm}`])
    const bad = await api(d, 'PUT', '/v1/uploads/certificate', { certificate: readFileSync(join(dir, 'c.pem'), 'utf8'), key: 'not a key' })
    expect(bad.body.error.code).toBe('ERR_BAD_CERTIFICATE')
    const set = await api(d, 'PUT', '/v1/uploads/certificate', { certificate: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') })
    expect(set.status).toBe(204)
    const base = `https://${STORAGE_LAB_ADDR.ssvm}:8081`
    expect((await api(d, 'PUT', '/v1/uploads/key', { key: KEY, publicBaseUrls: [PUBLIC, base] })).status).toBe(204)
    const uuid = randomUUID()
    const id = ++entity
    const metadata = encodeGrant({ uuid, storeId: 's', kind: 'template', accountId: 2, entityId: id, name: `up-${id}`, format: 'qcow2', maxBytes: 64 * MiB })
    const expires = new Date(Date.now() + 600_000).toISOString()
    const g = { uuid, id, headers: ['-H', `X-signature: ${signUpload(KEY, metadata, `${base}/upload/${uuid}`, expires)}`, '-H', `X-metadata: ${metadata}`, '-H', `X-expires: ${expires}`] }
    const r = await upload(g, join(files, 'disk.qcow2'), base, ['--cacert', join(dir, 'c.pem')])
    expect(r.status).toBe(200)
    expect(JSON.stringify((await api(d, 'GET', '/v1/uploads')).body)).not.toContain('PRIVATE KEY')
  })
})
