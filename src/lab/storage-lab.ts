import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binary, run, startProcess, type StartedProcess } from '../core/exec.ts'
import { Daemon, type DaemonOptions } from './daemon.ts'
import { deleteNamespaces } from './lab.ts'

/**
 * The secondary-storage lab: the storage VM's namespace (`<id>-ssvm`, 10.201.0.1) wired by a
 * veth pair to a web namespace (`<id>-web`, 10.201.0.2) where image servers run, and a scratch
 * directory whose subdirectories are `path` stores. storaged runs in the storage VM's
 * namespace as its unit runs it (src/lab/daemon.ts). Used by the tests, the demo and the bench.
 */

export const STORAGE_LAB_ADDR = { ssvm: '10.201.0.1', web: '10.201.0.2' } as const

export class StorageLab {
  readonly ns: { ssvm: string; web: string }
  readonly dir: string
  private readonly processes: StartedProcess[] = []
  private daemon: Daemon | undefined
  private destroyed = false

  private constructor(readonly id: string) {
    this.ns = { ssvm: `${id}-ssvm`, web: `${id}-web` }
    this.dir = mkdtempSync(join(tmpdir(), `${id}-`))
  }

  /** Makes the namespaces and the link; on failure removes what it made. */
  static async create(prefix = 'sto'): Promise<StorageLab> {
    const lab = new StorageLab(`${prefix}${randomBytes(3).toString('hex')}`)
    try {
      const { ssvm, web } = lab.ns
      for (const ns of [ssvm, web]) {
        await run(binary('ip'), ['netns', 'add', ns])
        await run(binary('ip'), ['-n', ns, 'link', 'set', 'lo', 'up'])
      }
      await run(binary('ip'), ['-n', ssvm, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', web])
      await run(binary('ip'), ['-n', ssvm, 'address', 'add', `${STORAGE_LAB_ADDR.ssvm}/24`, 'dev', 'eth1'])
      await run(binary('ip'), ['-n', web, 'address', 'add', `${STORAGE_LAB_ADDR.web}/24`, 'dev', 'eth0'])
      await run(binary('ip'), ['-n', ssvm, 'link', 'set', 'eth1', 'up'])
      await run(binary('ip'), ['-n', web, 'link', 'set', 'eth0', 'up'])
    } catch (err) {
      await lab.destroy()
      throw err
    }
    return lab
  }

  /** A fresh directory under the lab's scratch directory (a `path` store, a server's files). */
  mkdir(name: string): string {
    const path = join(this.dir, name)
    mkdirSync(path, { recursive: true })
    return path
  }

  /** Starts storaged in the storage VM's namespace (its state under the lab's directory). */
  async startStoraged(options: Partial<DaemonOptions> = {}): Promise<Daemon> {
    this.daemon = await Daemon.launch({
      name: 'storaged', netns: this.ns.ssvm, dir: join(this.dir, 'storaged'),
      ...options, config: { healthCheckSeconds: 0, logLevel: 'warn', ...options.config },
    })
    return this.daemon
  }

  /** Starts a long-running process in one of the namespaces; destroy() kills it. */
  start(ns: string, file: string, args: readonly string[]): StartedProcess {
    return this.adopt(startProcess(file, args, { netns: ns }))
  }

  /** Kills `p` with the lab (a server started by a test's own launcher). */
  adopt(p: StartedProcess): StartedProcess {
    this.processes.push(p)
    return p
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    await this.daemon?.close().catch(() => undefined)
    for (const p of this.processes) p.kill('SIGKILL')
    await deleteNamespaces([this.ns.ssvm, this.ns.web])
    await Promise.all(this.processes.map((p) => p.exited))
    rmSync(this.dir, { recursive: true, force: true })
  }
}
