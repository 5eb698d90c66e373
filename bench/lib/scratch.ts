import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { binary, run } from '../../src/core/exec.ts'
import { onCleanup } from './cleanup.ts'

/**
 * A bare network namespace for peer measurements (nothing in it but lo), and the in-namespace
 * timer (bench/netns-timer.ts) that runs tools there and times only the tool processes, so
 * `ip netns exec`'s own start-up is not charged to the peer.
 */

export interface TimedStep {
  /** System binary name, resolved by exec.ts binary() inside the namespace. */
  tool: string
  args: string[]
  stdin?: string
  /** Timed steps report their wall time; the others only prepare. */
  timed: boolean
}

const TIMER = fileURLToPath(new URL('../netns-timer.js', import.meta.url))

export class ScratchNs {
  private constructor(readonly name: string, readonly destroy: () => Promise<void>) {}

  static async create(prefix = 'svmbench'): Promise<ScratchNs> {
    const name = `${prefix}${randomBytes(3).toString('hex')}-peer`
    const destroy = onCleanup(`namespace ${name}`, async () => {
      const pids = await run(binary('ip'), ['netns', 'pids', name], { okCodes: [0, 1, 255] }).catch(() => ({ stdout: '' }))
      for (const pid of pids.stdout.split('\n').filter((p) => /^\d+$/.test(p))) {
        try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ }
      }
      await run(binary('ip'), ['netns', 'del', name], { okCodes: [0, 1, 255] })
    })
    await run(binary('ip'), ['netns', 'add', name])
    await run(binary('ip'), ['-n', name, 'link', 'set', 'lo', 'up'])
    return new ScratchNs(name, destroy)
  }

  /** Runs the steps in order inside the namespace; returns the wall times (ms) of the timed ones. */
  async timeSteps(steps: readonly TimedStep[], timeoutMs = 300_000): Promise<number[]> {
    const r = await run(process.execPath, [TIMER], { netns: this.name, stdin: JSON.stringify({ steps }), timeoutMs })
    const out = JSON.parse(r.stdout) as { ms: number[] }
    return out.ms
  }

  exec(tool: string, args: readonly string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<{ stdout: string }> {
    return run(binary(tool), args, { ...opts, netns: this.name })
  }
}
