import { execFile } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { KEY, newListener, NullSink, tempDir, uploadArgs, uploadParams } from './fixtures.ts'

/*
 * Upload throughput, opt-in (UPLOAD_BENCH=1, about a minute): curl POSTs a 512 MiB random file
 * as multipart/form-data (as the UI does) to
 *   - the upload listener with a sink that drops the bytes (signature check, multipart parsing,
 *     size metering, one awaited write per chunk), and
 *   - a bare node:http server that drains the request body (the floor: curl + loopback + node),
 * three rounds each, alternating; medians in MB/s. The listener's process RSS is sampled.
 */

const SIZE = 512 * 1024 * 1024

function curlTimed(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', ...args], (err, stdout) => {
      if (err !== null) return reject(err)
      const [code, seconds] = stdout.trim().split(' ')
      if (code !== '200') return reject(new Error(`status ${code}`))
      resolve(Number(seconds))
    })
  })
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

describe.skipIf(process.env['UPLOAD_BENCH'] !== '1')('upload throughput (UPLOAD_BENCH=1)', () => {
  it('512 MiB through the listener vs a bare draining server', async () => {
    const work = await tempDir('upload-bench-')
    const file = join(work.path, 'image.raw')
    const fh = await open(file, 'w')
    for (let i = 0; i < SIZE / (8 << 20); i++) await fh.write(randomBytes(8 << 20))
    await fh.close()
    await new Promise<void>((resolve) => createReadStream(file).on('data', () => {}).on('end', () => resolve())) // warm the page cache

    const bare = createServer((req, res) => {
      req.on('data', () => {})
      req.on('end', () => res.end('ok'))
    })
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', () => resolve()))
    const barePort = (bare.address() as AddressInfo).port

    const sink = new NullSink()
    const { listener } = newListener(join(work.path, 'state'), sink, { maxUploadBytes: 2 ** 40 })
    listener.setKey(KEY)
    const { port } = await listener.start()
    const base = `http://127.0.0.1:${port}`

    let peakRss = 0
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss) }, 50)
    const rssBefore = process.memoryUsage().rss
    const ours: number[] = []
    const floor: number[] = []
    for (let round = 0; round < 3; round++) {
      const p = uploadParams(base, { grant: { maxBytes: SIZE } })
      ours.push(SIZE / 1e6 / await curlTimed(uploadArgs(p, file)))
      floor.push(SIZE / 1e6 / await curlTimed(['-F', `files[]=@${file};type=application/octet-stream`, `http://127.0.0.1:${barePort}/upload`]))
    }
    clearInterval(sampler)
    const result = {
      listenerMBps: Math.round(median(ours)), bareMBps: Math.round(median(floor)), ratio: +(median(ours) / median(floor)).toFixed(2),
      rounds: { listener: ours.map(Math.round), bare: floor.map(Math.round) },
      rssBeforeMiB: Math.round(rssBefore / 2 ** 20), peakRssMiB: Math.round(peakRss / 2 ** 20),
    }
    console.log(`upload throughput: ${JSON.stringify(result)}`)
    expect(sink.bytes).toBe(3 * SIZE)
    await listener.stop()
    bare.close()
    await work.remove()
  }, 600_000)
})
