import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Metrics } from '../../../../src/core/metrics.ts'
import { ExtractRegistry } from '../../../../src/storage/upload/extract-registry.ts'
import type { UploadListener } from '../../../../src/storage/upload/server.ts'
import { curl, errorCodeOf, FileSink, KEY, metricValue, newListener, tempDir } from './fixtures.ts'

/*
 * Extract downloads over real HTTP with curl: the whole file, ranges, HEAD, validators, signed
 * URLs, deletion, and every way out of the store a name or a planted symlink could try.
 *
 *   <work>/store/template/tmpl/2/201/image.qcow2   1 MiB + 123 bytes of random data
 *   <work>/store/template/tmpl/2/201/empty.raw     0 bytes
 *   <work>/store/template/tmpl/2/201/passwd-link -> /etc/passwd
 *   <work>/store/outside-dir -> /etc
 */

let work: Awaited<ReturnType<typeof tempDir>>
let store = ''
let image: Buffer
let listener: UploadListener
let metrics: Metrics
let base = ''
let port = 0
const DIR = 'template/tmpl/2/201'

beforeAll(async () => {
  work = await tempDir('upload-extract-')
  store = join(work.path, 'store')
  await mkdir(join(store, DIR), { recursive: true })
  image = randomBytes(1024 * 1024 + 123)
  await writeFile(join(store, DIR, 'image.qcow2'), image)
  await writeFile(join(store, DIR, 'empty.raw'), '')
  await symlink('/etc/passwd', join(store, DIR, 'passwd-link'))
  await symlink('/etc', join(store, 'outside-dir'))
  const made = newListener(join(work.path, 'state'), new FileSink(work.path), { idleTimeoutMs: 1000 })
  listener = made.listener
  metrics = made.metrics
  listener.setKey(KEY)
  port = (await listener.start()).port
  base = `http://127.0.0.1:${port}`
  await listener.extracts.register({ name: 'image.qcow2', storeRoot: store, path: `${DIR}/image.qcow2` })
  await listener.extracts.register({ name: 'empty.raw', storeRoot: store, path: `${DIR}/empty.raw` })
})

afterAll(async () => {
  await listener.stop()
  await work.remove()
})

const url = (name: string) => `${base}/userdata/${name}`

describe('extract: GET and HEAD', () => {
  it('serves the whole file byte-identical, with length, Accept-Ranges, ETag and Last-Modified', async () => {
    const out = join(work.path, 'whole')
    const r = await curl([url('image.qcow2')], { bodyFile: out })
    expect(r.status).toBe(200)
    expect(Buffer.compare(await readFile(out), image)).toBe(0)
    expect(r.headers['content-length']).toBe(String(image.length))
    expect(r.headers['accept-ranges']).toBe('bytes')
    expect(r.headers['etag']).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/)
    expect(new Date(r.headers['last-modified'] ?? '').getTime()).not.toBeNaN()
    expect(r.headers['content-type']).toBe('application/octet-stream')
    expect(metricValue(metrics, 'storaged_upload_extract_requests_total{status="200"}')).toBeGreaterThanOrEqual(1)
  })

  it.each([
    { name: 'the first bytes', range: '0-99' },
    { name: 'the middle', range: '1000-1999' },
    { name: 'a suffix', range: '-500' },
    { name: 'an open end', range: '1048000-' },
    { name: 'an end past the file (clamped)', range: '1048500-99999999' },
  ])('serves a single range: $name (206 + Content-Range)', async ({ range }) => {
    const out = join(work.path, `range-${range}`)
    const r = await curl(['-r', range, url('image.qcow2')], { bodyFile: out })
    const size = image.length
    const [first, last] = range.split('-')
    const start = first === '' ? size - Number(last) : Number(first)
    const end = first === '' || last === '' ? size - 1 : Math.min(Number(last), size - 1)
    expect(r.status).toBe(206)
    expect(r.headers['content-range']).toBe(`bytes ${start}-${end}/${size}`)
    expect(r.headers['content-length']).toBe(String(end - start + 1))
    expect(Buffer.compare(await readFile(out), image.subarray(start, end + 1))).toBe(0)
  })

  it('answers an unsatisfiable range with 416 and Content-Range: bytes */size', async () => {
    const r = await curl(['-r', `${image.length}-`, url('image.qcow2')])
    expect([r.status, errorCodeOf(r)]).toEqual([416, 'ERR_EXTRACT_RANGE'])
    expect(r.headers['content-range']).toBe(`bytes */${image.length}`)
    const empty = await curl(['-r', '0-10', url('empty.raw')])
    expect(empty.status).toBe(416)
    expect(metricValue(metrics, 'storaged_upload_extract_refused_total{code="ERR_EXTRACT_RANGE"}')).toBe(2)
  })

  it('ignores a multi-range or a stale If-Range and sends the whole file', async () => {
    const multi = join(work.path, 'multi')
    expect((await curl(['-r', '0-1,5-6', url('image.qcow2')], { bodyFile: multi })).status).toBe(200)
    const stale = await curl(['-r', '0-9', '-H', 'If-Range: "stale"', url('image.qcow2')], { bodyFile: multi })
    expect(stale.status).toBe(200)
    const head = await curl(['-I', url('image.qcow2')])
    const fresh = await curl(['-r', '0-9', '-H', `If-Range: ${head.headers['etag']}`, url('image.qcow2')], { bodyFile: multi })
    expect(fresh.status).toBe(206)
  })

  it('HEAD answers the headers of a GET without the body; If-None-Match gives 304', async () => {
    const r = await curl(['-I', url('image.qcow2')])
    expect(r.status).toBe(200)
    expect(r.headers['content-length']).toBe(String(image.length))
    expect(r.headers['accept-ranges']).toBe('bytes')
    const etag = r.headers['etag'] ?? ''
    expect(etag).not.toBe('')
    const range = await curl(['-I', '-r', '10-19', url('image.qcow2')])
    expect([range.status, range.headers['content-length'], range.headers['content-range']]).toEqual([206, '10', `bytes 10-19/${image.length}`])
    const cached = await curl(['-H', `If-None-Match: ${etag}`, url('image.qcow2')])
    expect(cached.status).toBe(304)
    const empty = await curl([url('empty.raw')])
    expect([empty.status, empty.headers['content-length'], empty.body]).toEqual([200, '0', ''])
  })

  it('a deleted extract is 404; so is one never registered', async () => {
    await listener.extracts.register({ name: 'gone.qcow2', storeRoot: store, path: `${DIR}/image.qcow2` })
    expect((await curl(['-I', url('gone.qcow2')])).status).toBe(200)
    expect(listener.extracts.remove('gone.qcow2')).toBe(true)
    const r = await curl([url('gone.qcow2')])
    expect([r.status, errorCodeOf(r)]).toEqual([404, 'ERR_EXTRACT_NOT_FOUND'])
    expect(errorCodeOf(await curl([url('never')]))).toBe('ERR_EXTRACT_NOT_FOUND')
  })

  it('an extract past its expiry is 404 and is swept from the saved state', async () => {
    const now = { t: Date.now() }
    const registry = new ExtractRegistry({ stateDir: join(work.path, 'expiring'), now: () => now.t })
    registry.open()
    await registry.register({ name: 'soon', storeRoot: store, path: `${DIR}/image.qcow2`, expiresAt: now.t + 1000 })
    expect(registry.get('soon')?.name).toBe('soon')
    now.t += 1001
    expect(registry.get('soon')).toBeUndefined()
    expect(registry.sweepAndSave()).toEqual(['soon'])
    const reopened = new ExtractRegistry({ stateDir: join(work.path, 'expiring'), now: () => now.t })
    reopened.open()
    expect(reopened.list()).toEqual([])
  })

  it('keeps registrations across a restart (extracts.json)', async () => {
    const reopened = new ExtractRegistry({ stateDir: join(work.path, 'state') })
    reopened.open()
    expect(reopened.list().map((e) => e.name).sort()).toEqual(['empty.raw', 'image.qcow2'])
  })
})

describe('extract: nothing outside the store', () => {
  it.each([
    { name: '..', path: '/userdata/..' },
    { name: '../ in the raw path', path: '/userdata/../etc/passwd' },
    { name: '%2e%2e', path: '/userdata/%2e%2e' },
    { name: '%2e%2e%2f', path: '/userdata/%2e%2e%2fetc%2fpasswd' },
    { name: 'an absolute path', path: '/userdata//etc/passwd' },
    { name: 'an encoded absolute path', path: '/userdata/%2Fetc%2Fpasswd' },
    { name: 'a NUL', path: '/userdata/image.qcow2%00.txt' },
    { name: 'a backslash', path: '/userdata/..%5c..%5cetc%5cpasswd' },
    { name: 'a bad escape', path: '/userdata/%zz' },
  ])('refuses $name in the name (ERR_EXTRACT_NAME, 400)', async ({ path }) => {
    const r = await curl(['--path-as-is', `${base}${path}`])
    expect([r.status, errorCodeOf(r)]).toEqual([400, 'ERR_EXTRACT_NAME'])
    expect(r.body).not.toContain('root:')
  })

  it.each([
    { why: '..', path: '../../etc/passwd', code: 'ERR_PATH_OUTSIDE_STORE' },
    { why: 'an absolute path', path: '/etc/passwd', code: 'ERR_PATH_OUTSIDE_STORE' },
    { why: 'a NUL', path: `${DIR}/image.qcow2\u0000`, code: 'ERR_PATH_OUTSIDE_STORE' },
    { why: 'a symlink to /etc/passwd', path: `${DIR}/passwd-link`, code: 'ERR_PATH_OUTSIDE_STORE' },
    { why: 'a directory symlink leaving the store', path: 'outside-dir/passwd', code: 'ERR_PATH_OUTSIDE_STORE' },
    { why: 'a missing file', path: `${DIR}/nope.qcow2`, code: 'ERR_NOT_FOUND' },
    { why: 'a directory', path: DIR, code: 'ERR_NOT_A_FILE' },
  ])('refuses to register $why ($code)', async ({ path, code }) => {
    await expect(listener.extracts.register({ name: 'bad', storeRoot: store, path })).rejects.toMatchObject({ code })
    expect(listener.extracts.get('bad')).toBeUndefined()
  })

  it.each(['..', 'a/b', '', 'x\u0000y'])('refuses to register the name %j (ERR_BAD_NAME)', async (name) => {
    await expect(listener.extracts.register({ name, storeRoot: store, path: `${DIR}/image.qcow2` })).rejects.toMatchObject({ code: 'ERR_BAD_NAME' })
  })

  it('refuses a file swapped for a symlink to /etc/passwd after registration (ERR_EXTRACT_OUTSIDE_STORE, 403)', async () => {
    const target = join(store, DIR, 'swapped.qcow2')
    await writeFile(target, 'innocent')
    await listener.extracts.register({ name: 'swapped', storeRoot: store, path: `${DIR}/swapped.qcow2` })
    await rm(target)
    await symlink('/etc/passwd', target)
    const r = await curl([url('swapped')])
    expect([r.status, errorCodeOf(r)]).toEqual([403, 'ERR_EXTRACT_OUTSIDE_STORE'])
    expect(r.body).not.toContain('root:')
    // A directory on the way swapped for a symlink out of the store.
    await mkdir(join(store, 'moving'))
    await writeFile(join(store, 'moving/passwd'), 'inside')
    await listener.extracts.register({ name: 'moved', storeRoot: store, path: 'moving/passwd' })
    await rename(join(store, 'moving'), join(store, 'moved-away'))
    await symlink('/etc', join(store, 'moving'))
    const m = await curl([url('moved')])
    expect([m.status, errorCodeOf(m)]).toEqual([403, 'ERR_EXTRACT_OUTSIDE_STORE'])
    expect(m.body).not.toContain('root:')
  })
})

describe('extract: signed URLs', () => {
  it('serves a valid signed URL, refuses an expired or forged one', async () => {
    await listener.extracts.register({ name: 'signed.qcow2', storeRoot: store, path: `${DIR}/image.qcow2`, requireSignature: true })
    const valid = listener.signExtractUrl('signed.qcow2', Date.now() + 600_000)
    expect((await curl(['-I', `${base}${valid}`])).status).toBe(200)
    const bare = await curl([url('signed.qcow2')])
    expect([bare.status, errorCodeOf(bare)]).toEqual([403, 'ERR_EXTRACT_SIGNATURE'])
    const expired = listener.signExtractUrl('signed.qcow2', Date.now() - 1000)
    const e = await curl([`${base}${expired}`])
    expect([e.status, errorCodeOf(e)]).toEqual([403, 'ERR_EXTRACT_EXPIRED'])
    const forged = valid.replace(/signature=(.)/, (_m, c: string) => `signature=${c === 'A' ? 'B' : 'A'}`)
    const f = await curl([`${base}${forged}`])
    expect([f.status, errorCodeOf(f)]).toEqual([403, 'ERR_EXTRACT_SIGNATURE'])
    const longer = valid.replace(/expires=(\d+)/, (_m, s: string) => `expires=${Number(s) + 3600}`)
    expect(errorCodeOf(await curl([`${base}${longer}`]))).toBe('ERR_EXTRACT_SIGNATURE')
    const otherName = listener.signExtractUrl('image.qcow2', Date.now() + 600_000).replace('/userdata/image.qcow2', '/userdata/signed.qcow2')
    expect(errorCodeOf(await curl([`${base}${otherName}`]))).toBe('ERR_EXTRACT_SIGNATURE')
    // An extract that does not require a signature still checks one that is given.
    const optional = listener.signExtractUrl('image.qcow2', Date.now() - 1000)
    expect(errorCodeOf(await curl([`${base}${optional}`]))).toBe('ERR_EXTRACT_EXPIRED')
  })
})

describe('extract: a client that never reads', () => {
  it('sends no more than the socket buffers hold, then closes the connection when idle', async () => {
    const path = join(store, 'big.raw')
    await writeFile(path, Buffer.alloc(96 * 1024 * 1024, 7))
    await listener.extracts.register({ name: 'big.raw', storeRoot: store, path: 'big.raw' })
    const before = metricValue(metrics, 'storaged_upload_extract_bytes_total')
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET /userdata/big.raw HTTP/1.1\r\nHost: x\r\n\r\n'))
      socket.pause() // never reads: the server's writes stall
      socket.on('error', () => {})
      socket.on('close', () => resolve())
      // A paused socket does not see the FIN; poll for the server's side of it instead.
      const check = setInterval(() => {
        if (metricValue(metrics, 'storaged_upload_extract_bytes_total') > before) {
          clearInterval(check)
          socket.destroy()
        }
      }, 50)
    })
    const sent = metricValue(metrics, 'storaged_upload_extract_bytes_total') - before
    expect(sent).toBeGreaterThan(0)
    expect(sent).toBeLessThan(48 * 1024 * 1024)
  })
})
