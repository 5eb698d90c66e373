import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, run } from '../../src/core/exec.ts'
import { fetchToSink, type DownloadSink } from '../../src/storage/download/fetch.ts'
import { makeTestCertificate, startImageServerProcess, type ServerProcess } from '../helpers/image-http-server.ts'

/**
 * The download fixture as storaged's integration tests will run it: image-http-server.mjs in its
 * own network namespace (`ip netns exec`), reached over a veth pair, as a file server (http and
 * https) and as a forward proxy. Root only; skipped otherwise.
 */

const root = process.getuid?.() === 0
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

describe.skipIf(!root)('storage download fixture in a network namespace', () => {
  const tag = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`
  const ns = `sdl-${tag}`
  const hostDev = `sdl${tag}h`
  const nsDev = `sdl${tag}n`
  const subnet = 64 + (Number(tag) % 128)
  const hostIp = `10.251.${subnet}.1`
  const nsIp = `10.251.${subnet}.2`
  const ip = (...args: string[]) => run(binary('ip'), args)
  let dir: string
  let image: Buffer
  let http: ServerProcess
  let https: ServerProcess
  let proxy: ServerProcess
  let cert: Buffer

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storaged-netns-download-'))
    image = randomBytes(2 * 1024 * 1024 + 9)
    await writeFile(join(dir, 'image.img'), image)
    const tls = await makeTestCertificate(dir)
    cert = tls.cert
    await ip('netns', 'add', ns)
    await ip('link', 'add', hostDev, 'type', 'veth', 'peer', 'name', nsDev)
    await ip('link', 'set', nsDev, 'netns', ns)
    await ip('addr', 'add', `${hostIp}/30`, 'dev', hostDev)
    await ip('link', 'set', hostDev, 'up')
    await ip('-n', ns, 'addr', 'add', `${nsIp}/30`, 'dev', nsDev)
    await ip('-n', ns, 'link', 'set', nsDev, 'up')
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
    http = await startImageServerProcess({ dir, netns: ns })
    https = await startImageServerProcess({ dir, netns: ns, tls: { keyFile: tls.keyFile, certFile: tls.certFile } })
    proxy = await startImageServerProcess({ netns: ns, proxyAuth: 'u:p' })
  }, 30_000)

  afterAll(async () => {
    await http?.stop()
    await https?.stop()
    await proxy?.stop()
    await ip('netns', 'del', ns).catch(() => {})
    await ip('link', 'del', hostDev).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  it('downloads from the namespace over the veth, resuming after drops', async () => {
    const sink = memorySink()
    const result = await fetchToSink(`http://${nsIp}:${http.port}/image.img?drop=500000&times=3`, sink, { retryDelayMs: 1 })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    expect(result).toMatchObject({ resumes: 3, wastedBytes: 0 })
  })

  it('a connection that is never answered (SYN dropped in the namespace) is ERR_DOWNLOAD_TIMEOUT in the connect phase', async () => {
    await run(binary('ip'), ['netns', 'exec', ns, binary('iptables'), '-A', 'INPUT', '-p', 'tcp', '--dport', '9', '-j', 'DROP'])
    await expect(fetchToSink(`http://${nsIp}:9/image.img`, memorySink(), { retries: 0, connectTimeoutMs: 300 }))
      .rejects.toMatchObject({ code: 'ERR_DOWNLOAD_TIMEOUT', phase: 'connect' })
  })

  it('the server is not reachable on the host loopback: it lives in the namespace', async () => {
    await expect(fetchToSink(`http://127.0.0.1:${http.port}/image.img`, memorySink(), { retries: 0 }))
      .rejects.toMatchObject({ code: 'ERR_DOWNLOAD_NETWORK' })
  })

  it('https through the proxy in the namespace (CONNECT to the namespace\'s own loopback)', async () => {
    const sink = memorySink()
    // The certificate names 127.0.0.1: the proxy, inside the namespace, connects there.
    await fetchToSink(`https://127.0.0.1:${https.port}/image.img`, sink, { proxy: `http://u:p@${nsIp}:${proxy.port}`, ca: cert })
    expect(sha256(sink.bytes())).toBe(sha256(image))
  })
})
