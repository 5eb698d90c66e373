import { createHash, randomBytes } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { errorCode } from '../../../src/core/errors.ts'
import { binary, runFilter } from '../../../src/core/exec.ts'

/** core/exec runFilter: a process as a stream filter, on real tools (cat, gzip, head, sleep). */

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** A writable that takes its time, so the filter's output waits on it. */
function slowCollector(delayMs: number) {
  const chunks: Buffer[] = []
  const stream = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk)
      setTimeout(callback, delayMs)
    },
  })
  return { stream, bytes: () => Buffer.concat(chunks) }
}

/** Resolves once `pid` is gone (a killed child is reaped by node on SIGCHLD). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return false
}

async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise
  } catch (err) {
    return err as Error & Record<string, unknown>
  }
  throw new Error('expected a failure')
}

describe('core/exec runFilter', () => {
  it('passes 8 MiB through cat unchanged to a slow reader (backpressure both ways)', async () => {
    const input = randomBytes(8 * 1024 * 1024)
    const out = slowCollector(1)
    await pipeline(Readable.from([input.subarray(0, 3_000_000), input.subarray(3_000_000)]), runFilter(binary('cat'), []), out.stream)
    expect(sha256(out.bytes())).toBe(sha256(input))
  })

  it('a non-zero exit is CommandFailedError with the exit code and stderr, instead of an end', async () => {
    const out = slowCollector(0)
    const err = await failure(pipeline(Readable.from([Buffer.from('this is not gzip data')]), runFilter(binary('gzip'), ['-dc']), out.stream))
    expect(errorCode(err)).toBe('ERR_COMMAND_FAILED')
    expect(err['exitCode']).toBe(1)
    expect(String(err['stderr'])).toMatch(/not in gzip format/)
  })

  it('a tool that stops reading its input early (head) ends cleanly: the rest of the input is dropped', async () => {
    const out = slowCollector(0)
    const input = randomBytes(4 * 1024 * 1024)
    await pipeline(Readable.from([input]), runFilter(binary('head'), ['-c', '10']), out.stream)
    expect(out.bytes().equals(input.subarray(0, 10))).toBe(true)
  })

  it('destroy kills the process', async () => {
    const filter = runFilter(binary('sleep'), ['60'])
    filter.on('error', () => {})
    expect(filter.pid).toBeGreaterThan(0)
    filter.destroy()
    expect(await gone(filter.pid!)).toBe(true)
  })

  it('an abort kills the process and fails the stream with the reason', async () => {
    const controller = new AbortController()
    const filter = runFilter(binary('cat'), [], { signal: controller.signal })
    const errored = new Promise<Error>((resolve) => filter.on('error', resolve))
    controller.abort(new Error('stop now'))
    expect((await errored).message).toBe('stop now')
    expect(await gone(filter.pid!)).toBe(true)
  })

  it('a binary that does not exist is CommandFailedError with no exit code', async () => {
    const err = await failure(pipeline(Readable.from([Buffer.from('x')]), runFilter('/nonexistent/tool', []), slowCollector(0).stream))
    expect(err).toMatchObject({ code: 'ERR_COMMAND_FAILED', exitCode: null })
  })
})
