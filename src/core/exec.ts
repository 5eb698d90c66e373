import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { closeSync, existsSync, openSync } from 'node:fs'
import { Duplex } from 'node:stream'
import { CommandFailedError, CommandTimeoutError } from './errors.ts'

/**
 * The only module that starts processes. Always an argv array with an absolute binary path,
 * never a shell; batches go to stdin; output is capped; a namespace is an argv prefix.
 */

export interface RunOptions {
  stdin?: string
  timeoutMs?: number
  /** Exit codes that count as success (default [0]). */
  okCodes?: readonly number[]
  /**
   * A batch tool that does nothing until its stdin ends (a restore): a runner made with
   * `prestart` may serve it with a process of the same argv started ahead (see Spares).
   */
  batch?: boolean
}

export interface RunResult { stdout: string; stderr: string; exitCode: number }

const MAX_OUTPUT = 64 * 1024 * 1024
const SEARCH_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']
const resolved = new Map<string, string>()

/** The absolute path of a system binary, looked up once in the standard directories. */
export function binary(name: string): string {
  let path = resolved.get(name)
  if (path === undefined) {
    path = SEARCH_PATH.map((dir) => `${dir}/${name}`).find((p) => existsSync(p)) ?? `/usr/sbin/${name}`
    resolved.set(name, path)
  }
  return path
}

/** The argv that runs `file args` in network namespace `netns` (the daemon's own when undefined). */
function commandLine(file: string, args: readonly string[], netns: string | undefined): [string, ...string[]] {
  return netns === undefined ? [file, ...args] : [binary('ip'), 'netns', 'exec', netns, file, ...args]
}

function spawnTool([cmd, ...rest]: readonly [string, ...string[]]): ChildProcessWithoutNullStreams {
  const child = spawn(cmd, rest, { stdio: ['pipe', 'pipe', 'pipe'], shell: false })
  // A tool that exits early (bad line) closes stdin under us; the exit code tells the story.
  child.stdin.on('error', () => {})
  return child
}

/** Runs `file args` (in network namespace `netns` when given) and resolves with its output. */
export function run(file: string, args: readonly string[], options: RunOptions & { netns?: string | undefined } = {}): Promise<RunResult> {
  return finish(spawnTool(commandLine(file, args, options.netns)), file, args, options)
}

/** Feeds `child` its stdin and resolves with its output once it exits (rejects on a failure or the timeout). */
function finish(child: ChildProcessWithoutNullStreams, file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 60_000
  const okCodes = options.okCodes ?? [0]
  return new Promise((resolve, reject) => {
    const out: Buffer[] = []
    const err: Buffer[] = []
    let size = 0
    let timedOut = false
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_OUTPUT) into.push(chunk)
    }
    child.stdout.on('data', collect(out))
    child.stderr.on('data', collect(err))
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(new CommandFailedError(file, args, null, e.message))
    })
    const done = (code: number | null) => {
      clearTimeout(timer)
      const stdout = Buffer.concat(out).toString('utf8')
      const stderr = Buffer.concat(err).toString('utf8')
      if (timedOut) return reject(new CommandTimeoutError(file, timeoutMs))
      if (code === null || !okCodes.includes(code)) return reject(new CommandFailedError(file, args, code, stderr))
      resolve({ stdout, stderr, exitCode: code })
    }
    child.on('close', done)
    child.stdin.end(options.stdin ?? '')
  })
}

/**
 * Batch tools started ahead of need, one per argv: a process waiting on its stdin. Starting a
 * tool costs the daemon a fork and the tool its loading (~7 ms here, against ~2 ms to run a
 * one-line restore), and an edit that waits for one set member or one rule waits mostly for
 * that. A batch takes the waiting process of its argv (or starts one when none waits) and gives
 * it its payload as any other run. Its successor is started once that process has closed and
 * the caller has moved on (setImmediate: after the promise chain the close resumed, which for an
 * API edit ends in its answer), since a fork blocks this thread for milliseconds. Until its input
 * comes a spare holds no lock and changes nothing, and an empty input does nothing: all it does
 * when the daemon is gone (its stdin then ends). One that died while it waited is forgotten at
 * its exit, so a taken spare is alive or its close is still to come.
 */
type Refable = { ref?: () => void; unref?: () => void }

class Spares {
  private readonly waiting = new Map<string, ChildProcessWithoutNullStreams>()

  /** The waiting process of `argv`, or a new one; either way its successor follows it. */
  take(argv: readonly [string, ...string[]]): ChildProcessWithoutNullStreams {
    const key = argv.join('\0')
    const spare = this.waiting.get(key)
    this.waiting.delete(key)
    // Taken, it is a run like any other: it keeps the daemon alive until it is done.
    if (spare !== undefined) for (const handle of [spare, spare.stdin, spare.stdout, spare.stderr]) (handle as unknown as Refable).ref?.()
    const child = spare ?? spawnTool(argv)
    child.once('close', () => setImmediate(() => this.start(key, argv)))
    return child
  }

  private start(key: string, argv: readonly [string, ...string[]]): void {
    if (this.waiting.has(key)) return
    const child = spawnTool(argv)
    // A spare never keeps the daemon alive; one that fails to start or dies is not taken.
    child.on('error', () => { if (this.waiting.get(key) === child) this.waiting.delete(key) })
    child.on('exit', () => { if (this.waiting.get(key) === child) this.waiting.delete(key) })
    for (const handle of [child, child.stdin, child.stdout, child.stderr]) (handle as unknown as Refable).unref?.()
    this.waiting.set(key, child)
  }
}

/** A runner bound to one network namespace (or the daemon's own when undefined). */
export interface Runner {
  netns: string | undefined
  run(name: string, args: readonly string[], options?: RunOptions): Promise<RunResult>
}

/**
 * A runner in `netns` (the daemon's own when undefined). With `prestart` (a daemon's runner),
 * batch tools are served by processes started ahead (Spares).
 */
export function createRunner(netns?: string, opts: { prestart?: boolean } = {}): Runner {
  const spares = opts.prestart === true ? new Spares() : undefined
  return {
    netns,
    run: (name, args, options = {}) => {
      if (spares === undefined || options.batch !== true) return run(binary(name), args, { ...options, netns })
      const argv = commandLine(binary(name), args, netns)
      return finish(spares.take(argv), binary(name), args, options)
    },
  }
}

export interface StartedProcess {
  pid: number
  /** Resolves with the exit code (null if killed by a signal). */
  exited: Promise<number | null>
  output(): string
  kill(signal?: NodeJS.Signals): void
}

export interface StartOptions {
  netns?: string | undefined
  env?: NodeJS.ProcessEnv
  /** Detach: the process outlives us, its output goes to this file (output() is then empty). */
  detachedLogFile?: string
}

/** Starts a long-running process (a daemon, a test server) without waiting for it. */
export function startProcess(file: string, args: readonly string[], options: StartOptions = {}): StartedProcess {
  const argv = options.netns === undefined ? [file, ...args] : [binary('ip'), 'netns', 'exec', options.netns, file, ...args]
  const [cmd, ...rest] = argv as [string, ...string[]]
  let text = ''
  let child
  if (options.detachedLogFile !== undefined) {
    const fd = openSync(options.detachedLogFile, 'a')
    child = spawn(cmd, rest, { stdio: ['ignore', fd, fd], shell: false, env: options.env ?? process.env, detached: true })
    closeSync(fd)
    child.unref()
  } else {
    child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'], shell: false, env: options.env ?? process.env })
    const keep = (chunk: Buffer) => { text = (text + chunk.toString('utf8')).slice(-256 * 1024) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
  }
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code))
    child.on('error', () => resolve(null))
  })
  return {
    pid: child.pid ?? -1,
    exited,
    output: () => text,
    kill: (signal = 'SIGTERM') => { child.kill(signal) },
  }
}

export interface FilterOptions {
  /** Aborting kills the process and destroys the stream with the signal's reason. */
  signal?: AbortSignal | undefined
}

const MAX_FILTER_STDERR = 64 * 1024

/** The filter's stream, with the process id (undefined when it could not start). */
export type FilterStream = Duplex & { readonly pid: number | undefined }

/**
 * Runs `file args` as a stream filter: bytes written to the Duplex go to its stdin, its stdout is
 * what the Duplex reads. Backpressure holds both ways (a write completes when the pipe took it;
 * stdout pauses while the reader is full), so memory stays a few pipe buffers whatever the tool
 * produces. The end of the output waits for the exit status: a non-zero exit (or a signal) is
 * CommandFailedError with the captured stderr (capped) instead of an end, so a truncated input is
 * never mistaken for a complete one. Destroying the stream (or `signal`) kills the process.
 * Writes after the tool closed its stdin (e.g. funzip, done after the first member) are dropped.
 */
export function runFilter(file: string, args: readonly string[], options: FilterOptions = {}): FilterStream {
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], shell: false })
  let stderr = ''
  let exited = false
  let stdoutEnded = false
  let exit: { code: number | null } | undefined
  let stdinGone = false

  const finish = (duplex: Duplex): void => {
    if (!stdoutEnded || exit === undefined || duplex.destroyed) return
    if (exit.code === 0) duplex.push(null)
    else duplex.destroy(new CommandFailedError(file, args, exit.code, stderr))
  }

  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      if (stdinGone) return callback()
      child.stdin.write(chunk, () => callback())
    },
    final(callback) {
      if (stdinGone) return callback()
      child.stdin.end(() => callback())
    },
    read() {
      child.stdout.resume()
    },
    destroy(err, callback) {
      options.signal?.removeEventListener('abort', onAbort)
      if (!exited) child.kill('SIGKILL')
      child.stdin.destroy()
      child.stdout.destroy()
      callback(err)
    },
  })

  const onAbort = (): void => { duplex.destroy(options.signal?.reason instanceof Error ? options.signal.reason : new Error('aborted')) }
  if (options.signal?.aborted === true) queueMicrotask(onAbort)
  else options.signal?.addEventListener('abort', onAbort, { once: true })

  child.stdout.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) child.stdout.pause()
  })
  child.stdout.on('end', () => { stdoutEnded = true; finish(duplex) })
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < MAX_FILTER_STDERR) stderr = (stderr + chunk.toString('utf8')).slice(0, MAX_FILTER_STDERR)
  })
  // EPIPE when the tool exits without reading all its input: its exit code tells the story.
  child.stdin.on('error', () => { stdinGone = true })
  child.stdin.on('close', () => { stdinGone = true })
  child.on('error', (e) => {
    exited = true
    duplex.destroy(new CommandFailedError(file, args, null, e.message))
  })
  child.on('close', (code) => {
    exited = true
    exit = { code }
    finish(duplex)
  })
  return Object.assign(duplex, { pid: child.pid })
}
