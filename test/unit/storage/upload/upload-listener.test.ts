import { execFileSync } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Metrics } from '../../../../src/core/metrics.ts'
import { UploadError } from '../../../../src/storage/upload/errors.ts'
import { decodeGrant, encodeGrant } from '../../../../src/storage/upload/grant.ts'
import type { UploadListener } from '../../../../src/storage/upload/server.ts'
import { signUpload } from '../../../../src/storage/upload/signature.ts'
import {
  curl, errorCodeOf, FileSink, grantFor, KEY, metricValue, newListener, sha256File, tempDir, uploadArgs, uploadParams,
} from './fixtures.ts'

/*
 * The upload listener over real HTTP(S): curl on 127.0.0.1, an ephemeral port, the file sink of
 * fixtures.ts (a file per upload, sha256). Every refusal is checked by status and code, and by
 * what the sink saw (nothing begun, or aborted with that code).
 */

let work: Awaited<ReturnType<typeof tempDir>>
let small = ''   // 300 KiB of random bytes
let big = ''     // 3 MiB (curl sends Expect: 100-continue above 1 MiB)
const running: UploadListener[] = []

beforeAll(async () => {
  work = await tempDir('upload-listener-')
  small = join(work.path, 'small.qcow2')
  big = join(work.path, 'big.qcow2')
  await writeFile(small, randomBytes(300 * 1024))
  await writeFile(big, randomBytes(3 * 1024 * 1024))
})

afterAll(async () => {
  await work.remove()
})

afterEach(async () => {
  for (const l of running.splice(0)) await l.stop()
})

let seq = 0
async function start(opts: Parameters<typeof newListener>[2] = {}, key: string | null = KEY, settings: Parameters<UploadListener['setKey']>[1] = {}) {
  const dir = join(work.path, `case-${++seq}`)
  const sink = new FileSink(join(work.path))
  const { listener, metrics } = newListener(join(dir, 'state'), sink, opts)
  if (key !== null) listener.setKey(key, settings)
  const { port } = await listener.start()
  running.push(listener)
  const scheme = opts.tls === undefined ? 'http' : 'https'
  return { listener, metrics, sink, base: `${scheme}://127.0.0.1:${port}`, port, stateDir: join(dir, 'state') }
}

function refused(metrics: Metrics, code: string): number {
  return metricValue(metrics, `storaged_upload_refused_total{code="${code}"}`)
}

describe('upload: accepted', () => {
  it('streams a file byte-identical to the sink, with the sha256 the sink computed', async () => {
    const { base, sink, metrics } = await start()
    const p = uploadParams(base)
    const r = await curl(uploadArgs(p, small))
    expect(r.status).toBe(200)
    const answer = JSON.parse(r.body) as { uuid: string; bytes: number; result: { sha256: string; path: string } }
    expect(answer.uuid).toBe(p.uuid)
    expect(answer.bytes).toBe(300 * 1024)
    expect(answer.result.sha256).toBe(await sha256File(small))
    expect(Buffer.compare(await readFile(answer.result.path), await readFile(small))).toBe(0)
    expect(sink.records[0]?.grant).toMatchObject({ uuid: p.uuid, storeId: 'store-1', kind: 'template', accountId: '2', entityId: '201', format: 'qcow2' })
    expect(sink.records[0]?.info.fileName).toBe('small.qcow2')
    expect(sink.maxConcurrentWrites).toBe(1)
    expect(metricValue(metrics, 'storaged_upload_completed_total')).toBe(1)
    expect(metricValue(metrics, 'storaged_upload_bytes_total')).toBe(300 * 1024)
  })

  it('takes a 3 MiB upload sent with Expect: 100-continue, and a chunked one', async () => {
    const { base, sink } = await start()
    const p = uploadParams(base)
    const r = await curl(uploadArgs(p, big, ['-H', 'Expect: 100-continue']))
    expect(r.status).toBe(200)
    const q = uploadParams(base)
    const c = await curl(uploadArgs(q, big, ['-H', 'Transfer-Encoding: chunked']))
    expect(c.status).toBe(200)
    expect(sink.records.map((x) => x.sha256)).toEqual([await sha256File(big), await sha256File(big)])
  })

  it('accepts the authorisation as query parameters or as form fields before the file', async () => {
    const { base, sink } = await start()
    const p = uploadParams(base)
    const query = `?signature=${encodeURIComponent(p.signature)}&metadata=${p.metadata}&expires=${encodeURIComponent(p.expires)}`
    const r = await curl(['-F', `file=@${small}`, `${p.url}${query}`])
    expect(r.status).toBe(200)
    const f = uploadParams(base)
    const r2 = await curl(['-F', `signature=${f.signature}`, '-F', `metadata=${f.metadata}`, '-F', `expires=${f.expires}`, '-F', `file=@${small}`, f.url])
    expect(r2.status).toBe(200)
    expect(sink.records.filter((x) => x.finished)).toHaveLength(2)
  })

  it('accepts CloudStack\'s form: POST /upload?uuid=<uuid> (its Apache rewrite)', async () => {
    const { base } = await start()
    const p = uploadParams(base)
    const r = await curl(uploadArgs({ ...p, url: `${base}/upload?uuid=${p.uuid}` }, small))
    expect(r.status).toBe(200)
  })

  it('verifies against the configured public URL, whatever Host a proxy sent', async () => {
    const { base } = await start({}, KEY, { publicBaseUrls: ['https://10-1-1-5.realhostip.example/'] })
    const p = uploadParams(base, { signedBase: 'https://10-1-1-5.realhostip.example' })
    const r = await curl(uploadArgs(p, small, ['-H', 'Host: lb.internal:8080', '-H', 'X-Forwarded-Host: other.example']))
    expect(r.status).toBe(200)
    // With a base configured, a signature over the request's own Host URL is not accepted.
    const q = uploadParams(base)
    const r2 = await curl(uploadArgs(q, small))
    expect([r2.status, errorCodeOf(r2)]).toEqual([403, 'ERR_UPLOAD_SIGNATURE'])
  })

  it('without a configured base, accepts CloudStack\'s X-Forwarded-Host URL in either scheme', async () => {
    const { base } = await start()
    const p = uploadParams(base, { signedBase: 'https://203-0-113-5.cloud.example' })
    const r = await curl(uploadArgs(p, small, ['-H', 'X-Forwarded-Host: 203-0-113-5.cloud.example']))
    expect(r.status).toBe(200)
  })
})

describe('upload: refused', () => {
  it('an expired upload URL (ERR_UPLOAD_EXPIRED, 403), nothing reaches the sink', async () => {
    const { base, sink, metrics } = await start()
    const p = uploadParams(base, { expiresAt: Date.now() - 60_000 })
    const r = await curl(uploadArgs(p, small))
    expect([r.status, errorCodeOf(r)]).toEqual([403, 'ERR_UPLOAD_EXPIRED'])
    expect(sink.records).toHaveLength(0)
    expect(refused(metrics, 'ERR_UPLOAD_EXPIRED')).toBe(1)
  })

  it('a forged signature, a wrong key, metadata changed after signing (ERR_UPLOAD_SIGNATURE)', async () => {
    const { base, sink, metrics } = await start()
    const p = uploadParams(base)
    const forged = await curl(uploadArgs({ ...p, signature: signUpload('guess', p.metadata, p.url, p.expires) }, small))
    expect([forged.status, errorCodeOf(forged)]).toEqual([403, 'ERR_UPLOAD_SIGNATURE'])
    const wrongKey = uploadParams(base, { key: 'another-psk' })
    expect(errorCodeOf(await curl(uploadArgs(wrongKey, small)))).toBe('ERR_UPLOAD_SIGNATURE')
    const bigger = encodeGrant(grantFor(p.uuid, { maxBytes: 2 ** 40 }))
    expect(errorCodeOf(await curl(uploadArgs({ ...p, metadata: bigger }, small)))).toBe('ERR_UPLOAD_SIGNATURE')
    const later = new Date(Date.now() + 7_200_000).toISOString()
    expect(errorCodeOf(await curl(uploadArgs({ ...p, expires: later }, small)))).toBe('ERR_UPLOAD_SIGNATURE')
    const missing = await curl(['-H', `X-signature: ${p.signature}`, '-F', `file=@${small}`, p.url])
    expect([missing.status, errorCodeOf(missing)]).toEqual([403, 'ERR_UPLOAD_SIGNATURE'])
    const none = await curl(['-F', `file=@${small}`, p.url])
    expect([none.status, errorCodeOf(none)]).toEqual([403, 'ERR_UPLOAD_SIGNATURE'])
    expect(sink.records).toHaveLength(0)
    expect(refused(metrics, 'ERR_UPLOAD_SIGNATURE')).toBe(6)
  })

  it('a used grant, replayed at once and after the listener restarted (ERR_UPLOAD_REPLAYED, 409)', async () => {
    const first = await start()
    const p = uploadParams(first.base)
    expect((await curl(uploadArgs(p, small))).status).toBe(200)
    const again = await curl(uploadArgs(p, small))
    expect([again.status, errorCodeOf(again)]).toEqual([409, 'ERR_UPLOAD_REPLAYED'])
    await first.listener.stop()
    // A new listener on the same state directory, as after a daemon restart.
    const sink = new FileSink(work.path)
    const { listener, metrics } = newListener(first.stateDir, sink)
    listener.setKey(KEY)
    const { port } = await listener.start()
    running.push(listener)
    const p2 = uploadParams(`http://127.0.0.1:${port}`, { uuid: p.uuid })
    const replay = await curl(uploadArgs({ ...p, url: p2.url }, small))
    // The port changed, so the signed URL differs; sign for the new URL with the same uuid:
    // the uuid alone is remembered.
    expect(errorCodeOf(replay)).toBe('ERR_UPLOAD_SIGNATURE')
    const sameUuid = await curl(uploadArgs(p2, small))
    expect([sameUuid.status, errorCodeOf(sameUuid)]).toEqual([409, 'ERR_UPLOAD_REPLAYED'])
    expect(sink.records).toHaveLength(0)
    expect(refused(metrics, 'ERR_UPLOAD_REPLAYED')).toBe(1)
  })

  it('the same signed URL replayed against a restarted listener on a fixed public base', async () => {
    const first = await start({}, KEY, { publicBaseUrls: ['https://ssvm.example'] })
    const p = uploadParams(first.base, { signedBase: 'https://ssvm.example' })
    expect((await curl(uploadArgs(p, small))).status).toBe(200)
    await first.listener.stop()
    const { listener } = newListener(first.stateDir, new FileSink(work.path))
    listener.setKey(KEY, { publicBaseUrls: ['https://ssvm.example'] })
    const { port } = await listener.start()
    running.push(listener)
    const r = await curl(uploadArgs({ ...p, url: `http://127.0.0.1:${port}/upload/${p.uuid}` }, small))
    expect([r.status, errorCodeOf(r)]).toEqual([409, 'ERR_UPLOAD_REPLAYED'])
  })

  it('a wrong uuid: another path than signed (ERR_UPLOAD_SIGNATURE), a grant for another uuid (ERR_UPLOAD_UUID)', async () => {
    const { base, sink } = await start()
    const p = uploadParams(base)
    const other = randomUUID()
    const moved = await curl(uploadArgs({ ...p, url: `${base}/upload/${other}` }, small))
    expect([moved.status, errorCodeOf(moved)]).toEqual([403, 'ERR_UPLOAD_SIGNATURE'])
    // Signed for /upload/<other> but the grant names p.uuid (a management-server mix-up).
    const metadata = encodeGrant(grantFor(p.uuid))
    const signature = signUpload(KEY, metadata, `${base}/upload/${other}`, p.expires)
    const mixed = await curl(uploadArgs({ url: `${base}/upload/${other}`, metadata, expires: p.expires, signature }, small))
    expect([mixed.status, errorCodeOf(mixed)]).toEqual([403, 'ERR_UPLOAD_UUID'])
    const notUuid = await curl(uploadArgs({ ...p, url: `${base}/upload/..%2f..%2fetc` }, small))
    expect([notUuid.status, errorCodeOf(notUuid)]).toEqual([404, 'ERR_UPLOAD_NOT_FOUND'])
    expect(sink.records).toHaveLength(0)
  })

  it('oversize by Content-Length: refused before the body is read (ERR_UPLOAD_TOO_LARGE, 413)', async () => {
    const { base, sink, metrics } = await start()
    const p = uploadParams(base, { grant: { maxBytes: 1000 } })
    const r = await curl(uploadArgs(p, small))
    expect([r.status, errorCodeOf(r)]).toEqual([413, 'ERR_UPLOAD_TOO_LARGE'])
    // 3 MiB: curl waits for 100-continue, which never comes.
    const q = uploadParams(base, { grant: { maxBytes: 1000 } })
    const r2 = await curl(uploadArgs(q, big))
    expect([r2.status, errorCodeOf(r2)]).toEqual([413, 'ERR_UPLOAD_TOO_LARGE'])
    expect(sink.records).toHaveLength(0)
    expect(refused(metrics, 'ERR_UPLOAD_TOO_LARGE')).toBe(2)
    // Refused before the sink: the grant is still usable for a file that fits.
    const fits = join(work.path, 'fits.raw')
    await writeFile(fits, randomBytes(900))
    const ok = await curl(uploadArgs({ ...p }, fits))
    expect(ok.status).toBe(200)
  })

  it('oversize by stream (chunked, no Content-Length): aborted once past the maximum', async () => {
    const { base, sink, metrics } = await start()
    const p = uploadParams(base, { grant: { maxBytes: 100 * 1024 } })
    const r = await curl(uploadArgs(p, small, ['-H', 'Transfer-Encoding: chunked']))
    expect([r.status, errorCodeOf(r)]).toEqual([413, 'ERR_UPLOAD_TOO_LARGE'])
    expect(sink.records).toHaveLength(1)
    expect(sink.records[0]?.aborted).toBe('ERR_UPLOAD_TOO_LARGE')
    expect(sink.records[0]?.bytes).toBeLessThanOrEqual(100 * 1024)
    expect(refused(metrics, 'ERR_UPLOAD_TOO_LARGE')).toBe(1)
  })

  it('malformed multipart: no boundary, not multipart, truncated, two files, no file', async () => {
    const { base, sink, metrics } = await start()
    const send = async (contentType: string, body: string | Buffer) => {
      const p = uploadParams(base)
      const file = join(work.path, `body-${randomUUID()}`)
      await writeFile(file, body)
      return curl(['-H', `X-signature: ${p.signature}`, '-H', `X-metadata: ${p.metadata}`, '-H', `X-expires: ${p.expires}`,
        '-H', `Content-Type: ${contentType}`, '--data-binary', `@${file}`, p.url])
    }
    const noBoundary = await send('multipart/form-data', 'x')
    expect([noBoundary.status, errorCodeOf(noBoundary)]).toEqual([400, 'ERR_UPLOAD_MALFORMED'])
    const octets = await send('application/octet-stream', 'x')
    expect(errorCodeOf(octets)).toBe('ERR_UPLOAD_MALFORMED')
    const truncated = await send('multipart/form-data; boundary=XyZ', '--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.qcow2"\r\n\r\nsome bytes, no closing boundary')
    expect([truncated.status, errorCodeOf(truncated)]).toEqual([400, 'ERR_UPLOAD_MALFORMED'])
    expect(sink.records.at(-1)?.aborted).toBe('ERR_UPLOAD_MALFORMED')
    const two = await send('multipart/form-data; boundary=XyZ', [
      '--XyZ', 'Content-Disposition: form-data; name="a"; filename="a"', '', 'one',
      '--XyZ', 'Content-Disposition: form-data; name="b"; filename="b"', '', 'two', '--XyZ--', ''].join('\r\n'))
    expect([two.status, errorCodeOf(two)]).toEqual([400, 'ERR_UPLOAD_MALFORMED'])
    const noFile = await send('multipart/form-data; boundary=XyZ', ['--XyZ', 'Content-Disposition: form-data; name="a"', '', 'just a field', '--XyZ--', ''].join('\r\n'))
    expect([noFile.status, errorCodeOf(noFile)]).toEqual([422, 'ERR_UPLOAD_NO_FILE'])
    const badHeaders = await send('multipart/form-data; boundary=XyZ', ['--XyZ', 'no colon here', '', 'x', '--XyZ--', ''].join('\r\n'))
    expect(errorCodeOf(badHeaders)).toBe('ERR_UPLOAD_MALFORMED')
    // Form fields are kept in memory until the file starts: 64 KiB in all.
    const bigField = await send('multipart/form-data; boundary=XyZ', ['--XyZ', 'Content-Disposition: form-data; name="pad"', '', 'p'.repeat(70_000), '--XyZ--', ''].join('\r\n'))
    expect([bigField.status, errorCodeOf(bigField)]).toEqual([400, 'ERR_UPLOAD_MALFORMED'])
    expect(refused(metrics, 'ERR_UPLOAD_MALFORMED')).toBe(6)
    expect(refused(metrics, 'ERR_UPLOAD_NO_FILE')).toBe(1)
  })

  it('no key set: every upload refused (ERR_UPLOAD_DISABLED, 503); setKey(null) turns uploads off again', async () => {
    const { base, listener, sink } = await start({}, null)
    const p = uploadParams(base)
    const r = await curl(uploadArgs(p, small))
    expect([r.status, errorCodeOf(r)]).toEqual([503, 'ERR_UPLOAD_DISABLED'])
    listener.setKey(KEY)
    expect((await curl(uploadArgs(p, small))).status).toBe(200)
    listener.setKey(null)
    const q = uploadParams(base)
    expect(errorCodeOf(await curl(uploadArgs(q, small)))).toBe('ERR_UPLOAD_DISABLED')
    expect(sink.records).toHaveLength(1)
  })

  it('more uploads than allowed at once: 503 ERR_UPLOAD_BUSY with Retry-After', async () => {
    const { base, sink, metrics } = await start({ maxConcurrentUploads: 1 })
    let release!: () => void
    sink.gate = new Promise<void>((resolve) => { release = resolve })
    const begun = new Promise<void>((resolve) => { sink.onBegin = resolve })
    const first = curl(uploadArgs(uploadParams(base), small))
    await begun
    const second = await curl(uploadArgs(uploadParams(base), small))
    expect([second.status, errorCodeOf(second)]).toEqual([503, 'ERR_UPLOAD_BUSY'])
    expect(second.headers['retry-after']).toBe('10')
    release()
    expect((await first).status).toBe(200)
    expect(refused(metrics, 'ERR_UPLOAD_BUSY')).toBe(1)
  })

  it('a grant decoder of the caller\'s (the future CloudStack adapter) reads the metadata once the signature matched', async () => {
    const seen: string[] = []
    const { base, sink } = await start({
      grantDecoder: (metadata) => {
        seen.push(metadata)
        if (!metadata.startsWith('enc:')) throw new UploadError('ERR_UPLOAD_GRANT', 'not encrypted')
        return { ...decodeGrant(metadata.slice(4)), storeId: 'decrypted' }
      },
    })
    const uuid = randomUUID()
    const metadata = `enc:${encodeGrant(grantFor(uuid))}`
    const expires = new Date(Date.now() + 60_000).toISOString()
    const url = `${base}/upload/${uuid}`
    const ok = await curl(uploadArgs({ url, metadata, expires, signature: signUpload(KEY, metadata, url, expires) }, small))
    expect(ok.status).toBe(200)
    expect(sink.records[0]?.grant.storeId).toBe('decrypted')
    const plain = uploadParams(base)
    expect(errorCodeOf(await curl(uploadArgs(plain, small)))).toBe('ERR_UPLOAD_GRANT')
    expect(errorCodeOf(await curl(uploadArgs({ ...plain, signature: 'forged' }, small)))).toBe('ERR_UPLOAD_SIGNATURE')
    expect(seen).toHaveLength(2)
  })

  it('a sink failure is ERR_UPLOAD_SINK (500) and the sink is told to abort', async () => {
    const { base, sink } = await start()
    sink.failWrite = new Error('disk on fire')
    const r = await curl(uploadArgs(uploadParams(base), small))
    expect([r.status, errorCodeOf(r)]).toEqual([500, 'ERR_UPLOAD_SINK'])
    expect(sink.records[0]?.aborted).toBe('ERR_UPLOAD_SINK')
  })
})

describe('upload: slow and absent clients', () => {
  it('closes a connection whose headers trickle in (slow-loris)', async () => {
    const { port, metrics } = await start({ headersTimeoutMs: 300 })
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('POST /upload/x HTTP/1.1\r\nHost: a\r\nX-Slow: '))
      let text = ''
      socket.on('data', (d) => { text += d.toString() })
      socket.on('close', () => resolve(text))
      socket.on('error', () => {})
      const drip = setInterval(() => { if (!socket.destroyed) socket.write('a') }, 50)
      socket.on('close', () => clearInterval(drip))
    })
    expect(answer).toMatch(/^HTTP\/1\.1 408/)
    expect(metricValue(metrics, 'storaged_upload_client_errors_total{code="ERR_HTTP_REQUEST_TIMEOUT"}')).toBe(1)
  })

  it('aborts an upload whose body stops arriving (idle timeout): the sink is told ERR_UPLOAD_TIMEOUT', async () => {
    const { port, sink, metrics, base } = await start({ idleTimeoutMs: 300 })
    const p = uploadParams(base)
    const head = [
      `POST /upload/${p.uuid} HTTP/1.1`, `Host: 127.0.0.1:${port}`, `X-signature: ${p.signature}`, `X-metadata: ${p.metadata}`, `X-expires: ${p.expires}`,
      'Content-Type: multipart/form-data; boundary=B', 'Content-Length: 100000', '', '',
    ].join('\r\n')
    const part = '--B\r\nContent-Disposition: form-data; name="f"; filename="x.qcow2"\r\n\r\n' + 'x'.repeat(1000)
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(head + part))
      socket.resume()
      socket.on('close', () => resolve())
      socket.on('error', () => {})
    })
    await expect.poll(() => sink.records[0]?.aborted).toBe('ERR_UPLOAD_TIMEOUT')
    expect(refused(metrics, 'ERR_UPLOAD_TIMEOUT')).toBe(1)
    expect(metricValue(metrics, 'storaged_upload_active')).toBe(0)
  })

  it('refuses a body arriving below the minimum rate (ERR_UPLOAD_TIMEOUT, 408)', async () => {
    // The listener's clock is the test's: time passes only when the test says so.
    const clock = { t: Date.now() }
    const { port, sink, base } = await start({ now: () => clock.t, minBytesPerSecond: 1_000_000, slowGraceMs: 500 })
    const p = uploadParams(base)
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (d) => { answer += d.toString() })
    socket.on('error', () => {})
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    socket.write([
      `POST /upload/${p.uuid} HTTP/1.1`, `Host: 127.0.0.1:${port}`, `X-signature: ${p.signature}`, `X-metadata: ${p.metadata}`, `X-expires: ${p.expires}`,
      'Content-Type: multipart/form-data; boundary=B', 'Content-Length: 100000', '',
      '--B', 'Content-Disposition: form-data; name="f"; filename="x.qcow2"', '', 'first'].join('\r\n'))
    await expect.poll(() => sink.records.length).toBe(1)
    clock.t += 1000 // a second waiting for the next bytes, for a few dozen of them
    socket.write('second')
    await expect.poll(() => sink.records[0]?.aborted).toBe('ERR_UPLOAD_TIMEOUT')
    await expect.poll(() => answer).toMatch(/^HTTP\/1\.1 408 /)
    socket.destroy()
  })

  it('tells the sink when the client goes away mid-body (ERR_UPLOAD_ABORTED)', async () => {
    const { port, sink, metrics, base } = await start()
    const p = uploadParams(base)
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    socket.write([
      `POST /upload/${p.uuid} HTTP/1.1`, `Host: 127.0.0.1:${port}`, `X-signature: ${p.signature}`, `X-metadata: ${p.metadata}`, `X-expires: ${p.expires}`,
      'Content-Type: multipart/form-data; boundary=B', 'Content-Length: 100000', '',
      '--B', 'Content-Disposition: form-data; name="f"; filename="x.qcow2"', '', 'partial'].join('\r\n'))
    await expect.poll(() => sink.records.length).toBe(1)
    socket.destroy()
    await expect.poll(() => sink.records[0]?.aborted).toBe('ERR_UPLOAD_ABORTED')
    expect(refused(metrics, 'ERR_UPLOAD_ABORTED')).toBe(1)
  })
})

describe('CORS and HTTPS', () => {
  it('answers a preflight with the methods and X- headers a browser upload needs', async () => {
    const { base } = await start()
    const r = await curl(['-X', 'OPTIONS', '-H', 'Origin: https://cloud.example', '-H', 'Access-Control-Request-Method: POST',
      '-H', 'Access-Control-Request-Headers: x-signature, x-metadata, x-expires, content-type', `${base}/upload/${randomUUID()}`])
    expect(r.status).toBe(204)
    expect(r.headers['access-control-allow-origin']).toBe('*')
    expect(r.headers['access-control-allow-methods']).toContain('POST')
    for (const h of ['x-signature', 'x-metadata', 'x-expires', 'content-type']) expect(r.headers['access-control-allow-headers']).toContain(h)
    // The actual answers carry the origin too (a browser reads the JSON body only then), refusals included.
    const refusedAnswer = await curl(['-H', 'Origin: https://cloud.example', '-F', `file=@${small}`, `${base}/upload/${randomUUID()}`])
    expect(refusedAnswer.headers['access-control-allow-origin']).toBe('*')
  })

  it('with configured origins, allows those only', async () => {
    const { base } = await start({ corsOrigins: ['https://cloud.example'] })
    const preflight = (origin: string) => curl(['-X', 'OPTIONS', '-H', `Origin: ${origin}`, '-H', 'Access-Control-Request-Method: POST', `${base}/upload/${randomUUID()}`])
    const ok = await preflight('https://cloud.example')
    expect(ok.headers['access-control-allow-origin']).toBe('https://cloud.example')
    expect(ok.headers['vary']).toBe('Origin')
    const other = await preflight('https://evil.example')
    expect(other.status).toBe(204)
    expect(other.headers['access-control-allow-origin']).toBeUndefined()
    expect(other.headers['access-control-allow-methods']).toBeUndefined()
  })

  it('serves HTTPS with a certificate made by openssl, and swaps it while running', async () => {
    const certs = join(work.path, 'certs')
    const make = (name: string) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(work.path, `${name}.key`), '-out', join(work.path, `${name}.pem`),
        '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
      return { cert: join(work.path, `${name}.pem`), key: join(work.path, `${name}.key`) }
    }
    void certs
    const one = make('ssvm-one')
    const two = make('ssvm-two')
    const { base, listener, sink } = await start({ tls: { cert: await readFile(one.cert), key: await readFile(one.key) } })
    expect(base.startsWith('https://')).toBe(true)
    const p = uploadParams(base)
    const r = await curl(['--cacert', one.cert, ...uploadArgs(p, small)])
    expect(r.status).toBe(200)
    expect(sink.records[0]?.sha256).toBe(await sha256File(small))
    expect(listener.setTls({ cert: await readFile(two.cert), key: await readFile(two.key) })).toEqual({ restartRequired: false })
    const q = uploadParams(base)
    const old = await curl(['--cacert', one.cert, ...uploadArgs(q, small)])
    expect(old.status).toBe(0) // the new certificate is not signed by the old one
    const fresh = await curl(['--cacert', two.cert, ...uploadArgs(q, small)])
    expect(fresh.status).toBe(200)
    expect(listener.setTls(null)).toEqual({ restartRequired: true })
    expect(listener.address().tls).toBe(true)
    await listener.stop()
    const { port } = await listener.start()
    expect(listener.address().tls).toBe(false)
    const plain = `http://127.0.0.1:${port}`
    expect((await curl(uploadArgs(uploadParams(plain), small))).status).toBe(200)
    // The grant used before the restart is still used.
    const replay = await curl(uploadArgs(uploadParams(plain, { uuid: q.uuid }), small))
    expect(errorCodeOf(replay)).toBe('ERR_UPLOAD_REPLAYED')
  })
})
