import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApplianceError } from '../core/errors.ts'
import { binary, run, startProcess, type StartedProcess } from '../core/exec.ts'
import { sendApiRequest, type Endpoint } from '../core/http/client.ts'
import { daemonArgv, readDaemonCommand, type DaemonCommand, type DaemonName } from './daemon-command.ts'

/**
 * A daemon (routerd, later storaged) started the way the appliance starts it (its unit's node
 * flags, bundle and Environment=, read by daemon-command.ts) inside a lab namespace, with its own
 * directory for config, token, API socket and state; `start` resolves once the API answers
 * /healthz (or /readyz). Used by `make demo`, the tests and the benchmarks.
 *
 * The namespace is entered with `ip netns exec`, which execs: the pid is node's own, so
 * /proc/<pid> (RSS, CPU) and signals reach the daemon itself.
 *
 * Failures: ERR_DAEMON_NOT_BUILT (no bundle), ERR_DAEMON_EXITED (it exited before answering), ERR_DAEMON_TIMEOUT (no answer in
 * time; it is killed), ERR_DAEMON_RUNNING (start while the last one still runs). Both start
 * failures carry the tail of the daemon's output in the message.
 */

export interface DaemonOptions {
  /** Which daemon: selects appliance/<name>.service and the bundle that unit runs. */
  name: DaemonName
  /** The network namespace it runs in. */
  netns: string
  /**
   * Its config over the lab's defaults (listen on <dir>/api.sock, tokenFile <dir>/token, stateDir
   * <dir>/state; every daemon reads these three keys).
   */
  config?: Readonly<Record<string, unknown>>
  /** Where config, token, socket and state go; a fresh temp dir (removed by close()) when not given. */
  dir?: string
  /** The API token written to the token file (random when not given). */
  token?: string
  /** Environment over this process's and the unit's (e.g. ROUTERD_UDP_BATCH=off). */
  env?: Readonly<Record<string, string>>
  /** Node flags after the unit's (e.g. --cpu-prof for a diagnosis). */
  nodeArgs?: readonly string[]
  /** Another command than the unit's (the benchmarks' BENCH_ROUTERD=tsc). */
  command?: DaemonCommand
  /** What each start waits for: alive (`healthz`, the default) or ready (`readyz`: the stored config is in the kernel). */
  waitFor?: 'healthz' | 'readyz'
  /** How long each start may take to answer (default 30 s). */
  timeoutMs?: number
  /** Detach: the daemon outlives this process, its output goes to this file. */
  logFile?: string
}

const POLL_MS = 50
const ASK_MS = 2000
/** curl's exit codes for "nothing answered yet" (refused, timeout, TLS not up, empty reply, reset). */
const CURL_NO_ANSWER = [7, 28, 35, 52, 56]

/** Pure. Where the daemon config says the API listens. */
function endpointOf(config: Readonly<Record<string, unknown>>): Endpoint {
  const listen = config['listen'] as { path?: unknown; host?: unknown; port?: unknown } | undefined
  if (typeof listen?.path === 'string') return { kind: 'socket', path: listen.path }
  if (typeof listen?.host === 'string' && typeof listen.port === 'number') return { kind: 'tcp', host: listen.host, port: listen.port }
  throw new ApplianceError('ERR_DAEMON_CONFIG', `the daemon config's "listen" is neither { path } nor { host, port }: ${JSON.stringify(listen)}`)
}

export class Daemon {
  /** The argv after node (flags, bundle, arguments). */
  readonly argv: readonly string[]
  readonly configFile: string
  readonly endpoint: Endpoint
  private current: StartedProcess | undefined
  private running = false

  private constructor(
    readonly name: DaemonName,
    readonly netns: string,
    readonly dir: string,
    private readonly ownsDir: boolean,
    readonly config: Readonly<Record<string, unknown>>,
    readonly token: string,
    readonly command: DaemonCommand,
    private readonly options: DaemonOptions,
  ) {
    this.configFile = join(dir, `${name}.json`)
    this.endpoint = endpointOf(config)
    this.argv = daemonArgv(command, this.configFile, options.nodeArgs)
  }

  /** Writes the config and token, without starting anything yet (the demo shows the command line first). */
  static prepare(options: DaemonOptions): Daemon {
    const command = options.command ?? readDaemonCommand(options.name)
    if (!existsSync(command.script)) throw new ApplianceError('ERR_DAEMON_NOT_BUILT', `${command.script} is missing: build first (make build)`)
    const ownsDir = options.dir === undefined
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), `${options.name}-lab-`))
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const config = { listen: { path: join(dir, 'api.sock') }, tokenFile: join(dir, 'token'), stateDir: join(dir, 'state'), ...options.config }
    const daemon = new Daemon(options.name, options.netns, dir, ownsDir, config, options.token ?? randomBytes(24).toString('hex'), command, options)
    writeFileSync(String(config.tokenFile), `${daemon.token}\n`, { mode: 0o600 })
    writeFileSync(daemon.configFile, `${JSON.stringify(config, null, 2)}\n`)
    return daemon
  }

  /** prepare() and start(). On failure nothing it made is left (the directory too, when it made it). */
  static async launch(options: DaemonOptions): Promise<Daemon> {
    const daemon = Daemon.prepare(options)
    try {
      await daemon.start()
    } catch (err) {
      await daemon.close()
      throw err
    }
    return daemon
  }

  /** The daemon's process (a new one after each start). */
  get process(): StartedProcess {
    if (this.current === undefined) throw new ApplianceError('ERR_DAEMON_NOT_STARTED', `${this.name} was never started`)
    return this.current
  }

  /** The API's unix socket (the lab's default); throws ERR_DAEMON_CONFIG when it listens on TCP. */
  get socket(): string {
    if (this.endpoint.kind !== 'socket') throw new ApplianceError('ERR_DAEMON_CONFIG', `${this.name} listens on TCP inside ${this.netns}, not on a socket`)
    return this.endpoint.path
  }

  get pid(): number {
    return this.process.pid
  }

  /** Starts the daemon (again: same directory, so it recovers its stored state) and waits until it answers. */
  async start(): Promise<void> {
    if (this.running) throw new ApplianceError('ERR_DAEMON_RUNNING', `${this.name} (pid ${this.current?.pid}) is still running`)
    const env = { ...process.env, ...this.command.env, ...this.options.env }
    const p = startProcess(process.execPath, this.argv, {
      netns: this.netns, env, ...(this.options.logFile === undefined ? {} : { detachedLogFile: this.options.logFile }),
    })
    this.current = p
    this.running = true
    let exit: { code: number | null } | undefined
    void p.exited.then((code) => {
      exit = { code }
      if (this.current === p) this.running = false
    })
    const path = `/${this.options.waitFor ?? 'healthz'}`
    const timeoutMs = this.options.timeoutMs ?? 30_000
    const deadline = performance.now() + timeoutMs
    for (;;) {
      if (exit !== undefined) {
        throw new ApplianceError('ERR_DAEMON_EXITED', `${this.name} exited with ${exit.code} before ${path} answered; it said:\n${this.tail()}`)
      }
      if (await this.answers(path)) return
      if (performance.now() > deadline) {
        const tail = this.tail()
        await this.kill()
        throw new ApplianceError('ERR_DAEMON_TIMEOUT', `${this.name} did not answer ${path} within ${timeoutMs} ms; it said:\n${tail}`)
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
  }

  /** Whether GET `path` answers 200 now. A socket is asked directly; TCP inside the namespace through curl there. */
  private async answers(path: string): Promise<boolean> {
    if (this.endpoint.kind === 'socket') {
      if (!existsSync(this.endpoint.path)) return false
      const answer = await sendApiRequest(this.endpoint, { method: 'GET', path, timeoutMs: ASK_MS }).catch(() => undefined)
      return answer?.status === 200
    }
    const tls = this.config['tls'] !== undefined
    const host = this.endpoint.host.includes(':') ? `[${this.endpoint.host}]` : this.endpoint.host
    // -k: the lab's certificates are throwaway; liveness is all that is asked here.
    const r = await run(binary('curl'), ['-s', ...(tls ? ['-k'] : []), '-o', '/dev/null', '-w', '%{http_code}', '--max-time', String(ASK_MS / 1000),
      `${tls ? 'https' : 'http'}://${host}:${this.endpoint.port}${path}`], { netns: this.netns, okCodes: [0, ...CURL_NO_ANSWER] })
    return r.stdout === '200'
  }

  /** Stops and starts it again (start() when it is not running). */
  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  /** SIGTERM (the daemon closes and exits 0), SIGKILL after `timeoutMs`; the exit code, null when killed by a signal. */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    const p = this.current
    if (p === undefined) return null
    p.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), timeoutMs) })
    const code = await Promise.race([p.exited, late])
    clearTimeout(timer)
    if (code !== 'late') return code
    p.kill('SIGKILL')
    return p.exited
  }

  /** SIGKILL, as a crash; resolves once it is gone. */
  async kill(): Promise<void> {
    const p = this.current
    if (p === undefined) return
    p.kill('SIGKILL')
    await p.exited
  }

  /** Everything the daemon wrote to stdout and stderr (the last 256 KiB). */
  output(): string {
    if (this.options.logFile === undefined) return this.current?.output() ?? ''
    try {
      return readFileSync(this.options.logFile, 'utf8').slice(-256 * 1024)
    } catch {
      return ''
    }
  }

  private tail(): string {
    return this.output().slice(-3000)
  }

  /** Kills the daemon and removes the directory when it made it. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.running) await this.kill()
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true })
  }
}
