import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StartedProcess } from '../../src/kernel/exec.ts'
import type { Lab } from '../../src/lab/lab.ts'
import { RouterdApi } from './api.ts'
import { onCleanup } from './cleanup.ts'
import { sleep } from './stats.ts'

/**
 * routerd (dist/main-router.js) started inside a lab's router namespace with a fresh state
 * directory, listening on a unix socket in a temp dir. Its pid is node's own (`ip netns exec`
 * execs), so /proc/<pid>/status is the daemon's.
 */

export interface AppliedLogLine { generation: number; reason: string; kind: string; chains: number; rules: number; netOps: number; ms: number }

export class Routerd {
  private constructor(
    readonly process: StartedProcess,
    readonly api: RouterdApi,
    readonly dir: string,
  ) {}

  static async start(lab: Lab, mainJs: string, opts: { logLevel?: string; readyTimeoutMs?: number } = {}): Promise<Routerd> {
    if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: build first (npx tsc -p tsconfig.build.json)`)
    const dir = mkdtempSync(join(tmpdir(), 'routerd-bench-'))
    onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }))
    const token = randomBytes(24).toString('hex')
    const socketPath = join(dir, 'api.sock')
    writeFileSync(join(dir, 'token'), token + '\n', { mode: 0o600 })
    const daemonConfig = {
      listen: { path: socketPath },
      tokenFile: join(dir, 'token'),
      stateDir: join(dir, 'state'),
      driftCheckSeconds: 0,
      logLevel: opts.logLevel ?? 'info',
    }
    writeFileSync(join(dir, 'routerd.json'), JSON.stringify(daemonConfig, null, 2))
    // Lab.start registers the process: lab.destroy() kills it.
    const proc = lab.start(lab.ns.rtr, process.execPath, [mainJs, '--config', join(dir, 'routerd.json')])
    const api = new RouterdApi(socketPath, token)
    const deadline = performance.now() + (opts.readyTimeoutMs ?? 30_000)
    let exited: number | null | undefined
    void proc.exited.then((code) => { exited = code })
    for (;;) {
      if (exited !== undefined) throw new Error(`routerd exited with ${exited}: ${proc.output().slice(-2000)}`)
      if (existsSync(socketPath)) {
        const r = await api.call('GET', '/healthz', undefined, 2000).catch(() => undefined)
        if (r?.status === 200) break
      }
      if (performance.now() > deadline) throw new Error(`routerd did not answer within the timeout: ${proc.output().slice(-2000)}`)
      await sleep(50)
    }
    return new Routerd(proc, api, dir)
  }

  /** VmRSS and VmHWM of the daemon, in MB (MiB). */
  memory(): { rssMb: number; hwmMb: number } {
    const status = readFileSync(`/proc/${this.process.pid}/status`, 'utf8')
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 }
  }

  /** The "applied" log lines the daemon wrote so far (level info): per-apply kind, rules and ms. */
  appliedLines(): AppliedLogLine[] {
    const out: AppliedLogLine[] = []
    for (const line of this.process.output().split('\n')) {
      if (!line.includes('"msg":"applied"')) continue
      try { out.push(JSON.parse(line) as AppliedLogLine) } catch { /* a line cut by the output cap */ }
    }
    return out
  }
}
