import { readFileSync, readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { errorCode } from '../../../src/core/errors.ts'
import { binary, createRunner } from '../../../src/core/exec.ts'

/** core/exec: a daemon's runner serves batch tools with processes started ahead, on real tools (cat, grep). */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Our children running `file` (by /proc: pid → executable path). */
function childrenRunning(file: string): number[] {
  const ours = String(process.pid)
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === ours && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === file
    } catch {
      return false
    }
  }).map(Number)
}

/** Waits until `check` holds (a spare is started a little after a batch). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(10)
  expect(check()).toBe(true)
}

/** Kills the spares left running `file`, once the last one was started. */
async function killSpares(file: string): Promise<void> {
  await sleep(200)
  for (const pid of childrenRunning(file)) process.kill(pid)
  await until(() => childrenRunning(file).length === 0)
}

describe('createRunner with prestart: batch tools started ahead', () => {
  it('the next batch of the same argv gets the waiting process, with its own input, output and exit code', async () => {
    const runner = createRunner(undefined, { prestart: true })
    const cat = binary('cat')
    expect(childrenRunning(cat)).toEqual([])
    expect((await runner.run('cat', ['-'], { stdin: 'first\n', batch: true })).stdout).toBe('first\n')
    await until(() => childrenRunning(cat).length === 1)
    const spare = childrenRunning(cat)[0]
    expect((await runner.run('cat', ['-'], { stdin: 'second\n', batch: true })).stdout).toBe('second\n')
    // The spare ran the batch and is gone; its successor waits.
    await until(() => childrenRunning(cat).length === 1 && childrenRunning(cat)[0] !== spare)
    // Another argv is another tool: never served by cat's spare.
    expect((await runner.run('cat', ['-n'], { stdin: 'x\n', batch: true })).stdout).toMatch(/^\s+1\tx\n$/)
    // Not a batch: always a process of its own.
    expect((await runner.run('cat', ['-'], { stdin: 'plain\n' })).stdout).toBe('plain\n')
    await killSpares(cat)
  })

  it('a refusal from a spare is the run\'s refusal; a spare that died while it waited is not taken', async () => {
    const runner = createRunner(undefined, { prestart: true })
    const grep = binary('grep')
    await runner.run('grep', ['-q', 'ok'], { stdin: 'ok\n', batch: true })
    await until(() => childrenRunning(grep).length === 1)
    const failed = await runner.run('grep', ['-q', 'ok'], { stdin: 'no\n', batch: true }).catch((err: unknown) => err)
    expect(errorCode(failed)).toBe('ERR_COMMAND_FAILED')
    await until(() => childrenRunning(grep).length === 1)
    process.kill(childrenRunning(grep)[0] as number, 'SIGKILL')
    await until(() => childrenRunning(grep).length === 0)
    await sleep(50)
    expect((await runner.run('grep', ['-c', 'ok'], { stdin: 'ok\nok\n', batch: true })).stdout).toBe('2\n')
    await until(() => childrenRunning(grep).length === 1)
    await killSpares(grep)
  })

  it('a runner without prestart starts nothing ahead', async () => {
    const runner = createRunner()
    const cat = binary('cat')
    await runner.run('cat', ['-'], { stdin: 'a\n', batch: true })
    await sleep(150)
    expect(childrenRunning(cat)).toEqual([])
  })
})
