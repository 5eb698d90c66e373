/**
 * Everything the suite creates (labs, scratch namespaces, temp dirs) registers its teardown here.
 * `runAll()` runs them newest first, each once, also when the suite is interrupted (SIGINT/SIGTERM).
 */

type Task = { name: string; fn: () => Promise<void> | void }

const tasks: Task[] = []
let running: Promise<void> | undefined

export function onCleanup(name: string, fn: () => Promise<void> | void): () => Promise<void> {
  const task: Task = { name, fn }
  tasks.push(task)
  // Runs this one task now (and forgets it).
  return async () => {
    const i = tasks.indexOf(task)
    if (i === -1) return
    tasks.splice(i, 1)
    await task.fn()
  }
}

export function runAll(): Promise<void> {
  running ??= (async () => {
    while (tasks.length > 0) {
      const task = tasks.pop() as Task
      try {
        await task.fn()
      } catch (err) {
        process.stderr.write(`cleanup ${task.name} failed: ${err instanceof Error ? err.message : String(err)}\n`)
      }
    }
  })()
  return running
}

/** On SIGINT/SIGTERM: clean up, then exit with 128+signal. */
export function cleanupOnSignals(): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: cleaning up\n`)
      runAll().finally(() => process.exit(code))
    })
  }
}
