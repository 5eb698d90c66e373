#!/usr/bin/env node
import { binary, run } from '../src/core/exec.ts'
import type { TimedStep } from './lib/scratch.ts'

/**
 * Runs inside a network namespace (started there by lib/scratch.ts through `ip netns exec`).
 * Reads {"steps":[{tool,args,stdin?,timed}]} on stdin, runs each tool through exec.ts run()
 * (argv, no shell), and prints {"ms":[…]}: the wall time of each timed step, spawn to exit,
 * the same way routerd's runner spawns iptables-restore.
 */

async function main(): Promise<void> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const { steps } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { steps: TimedStep[] }
  const ms: number[] = []
  for (const step of steps) {
    const file = binary(step.tool)
    const started = performance.now()
    await run(file, step.args, { timeoutMs: 120_000, ...(step.stdin === undefined ? {} : { stdin: step.stdin }) })
    if (step.timed) ms.push(performance.now() - started)
  }
  process.stdout.write(JSON.stringify({ ms }) + '\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`netns-timer: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
