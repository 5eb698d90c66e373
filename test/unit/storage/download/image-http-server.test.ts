import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchToSink, type DownloadSink } from '../../../../src/storage/download/fetch.ts'
import { startImageServerProcess, type ServerProcess } from '../../../helpers/image-http-server.ts'

/**
 * image-http-server.mjs as a process (what a daemon's integration test runs inside a namespace):
 * behaviours from its --config file, and the forward proxy mode, on 127.0.0.1.
 */

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

function memorySink(): DownloadSink & { bytes(): Buffer } {
  let chunks: Buffer[] = []
  return {
    offset: 0,
    bytes: () => Buffer.concat(chunks),
    truncate: async () => { chunks = [] },
    write: async (chunk) => { chunks.push(Buffer.from(chunk)) },
  }
}

describe('image-http-server.mjs as a process', () => {
  let dir: string
  let image: Buffer
  let server: ServerProcess
  let proxy: ServerProcess
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storaged-server-process-'))
    image = randomBytes(1024 * 1024 + 3)
    await writeFile(join(dir, 'image.img'), image)
    const config = join(dir, 'behaviours.json')
    await writeFile(config, JSON.stringify({ '/image.img': { drop: 300_000, times: 2 }, '/gone.img': { status: 404 } }))
    server = await startImageServerProcess({ dir, host: '127.0.0.1', config })
    proxy = await startImageServerProcess({ host: '127.0.0.1', proxyAuth: 'p:q' })
  })
  afterAll(async () => {
    await server?.stop()
    await proxy?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('serves with the behaviours of its config file: two drops, then the rest by Range', async () => {
    const sink = memorySink()
    const result = await fetchToSink(`http://127.0.0.1:${server.port}/image.img`, sink, { retryDelayMs: 1 })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    expect(result).toMatchObject({ resumes: 2, wastedBytes: 0, requests: 3 })
  })

  it('the proxy mode forwards (with its credentials) and the config 404 comes through it', async () => {
    const sink = memorySink()
    await fetchToSink(`http://127.0.0.1:${server.port}/image.img?times=0`, sink, { proxy: `http://p:q@127.0.0.1:${proxy.port}` })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    await expect(fetchToSink(`http://127.0.0.1:${server.port}/gone.img`, memorySink(), { proxy: `http://p:q@127.0.0.1:${proxy.port}` }))
      .rejects.toMatchObject({ code: 'ERR_DOWNLOAD_HTTP', status: 404 })
  })
})
