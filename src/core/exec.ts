import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync } from 'node:fs'
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

/** Runs `file args` (in network namespace `netns` when given) and resolves with its output. */
export function run(file: string, args: readonly string[], options: RunOptions & { netns?: string | undefined } = {}): Promise<RunResult> {
  const argv = options.netns === undefined ? [file, ...args] : [binary('ip'), 'netns', 'exec', options.netns, file, ...args]
  const [cmd, ...rest] = argv as [string, ...string[]]
  const timeoutMs = options.timeoutMs ?? 60_000
  const okCodes = options.okCodes ?? [0]
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, { stdio: ['pipe', 'pipe', 'pipe'], shell: false })
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
    child.on('close', (code) => {
      clearTimeout(timer)
      const stdout = Buffer.concat(out).toString('utf8')
      const stderr = Buffer.concat(err).toString('utf8')
      if (timedOut) return reject(new CommandTimeoutError(file, timeoutMs))
      if (code === null || !okCodes.includes(code)) return reject(new CommandFailedError(file, args, code, stderr))
      resolve({ stdout, stderr, exitCode: code })
    })
    // A tool that exits early (bad line) closes stdin under us; the exit code tells the story.
    child.stdin.on('error', () => {})
    child.stdin.end(options.stdin ?? '')
  })
}

/** A runner bound to one network namespace (or the daemon's own when undefined). */
export interface Runner {
  netns: string | undefined
  run(name: string, args: readonly string[], options?: RunOptions): Promise<RunResult>
}

export function createRunner(netns?: string): Runner {
  return {
    netns,
    run: (name, args, options = {}) => run(binary(name), args, { ...options, netns }),
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
