import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { binary, run } from '../kernel/exec.ts'
import { DEMO_NAMESPACE, labNamespaces } from './demo-config.ts'

/**
 * The demo's state file and its teardown. `make demo` leaves a lab running after the process that
 * built it has exited, so `down` cannot call Lab.destroy(): it finds the lab by the id in the state
 * file (and by name, in case an `up` died before writing it) and removes it the way Lab does.
 */

export interface DemoState {
  labId: string
  /** routerd's pid (it runs detached inside the router namespace); null until started. */
  routerdPid: number | null
  startedAt: string
}

export function stateFile(dir: string): string {
  return join(dir, 'state.json')
}

/** The state file's content, or undefined when there is none (or it is unreadable). */
export function readDemoState(dir: string): DemoState | undefined {
  const file = stateFile(dir)
  if (!existsSync(file)) return undefined
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<DemoState>
    if (typeof value.labId !== 'string') return undefined
    return { labId: value.labId, routerdPid: typeof value.routerdPid === 'number' ? value.routerdPid : null, startedAt: String(value.startedAt ?? '') }
  } catch {
    return undefined
  }
}

export function writeDemoState(dir: string, state: DemoState): void {
  writeFileSync(stateFile(dir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Stops routerd by pid, but only if that pid still is a routerd (pids get reused). */
export async function stopRouterd(pid: number): Promise<void> {
  let cmdline = ''
  try { cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8') } catch { return }
  if (!cmdline.includes('main-router')) return
  try { process.kill(pid, 'SIGTERM') } catch { return }
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50))
  try { process.kill(pid, 'SIGKILL') } catch { /* exited */ }
}

/** The demo namespaces that exist now: those of `labId` plus any other `svmdemo<hex>-*` left behind. */
export async function listDemoNamespaces(labId?: string): Promise<string[]> {
  const listed = await run(binary('ip'), ['netns', 'list'])
  const names = listed.stdout.split('\n').map((line) => line.split(' ')[0] ?? '').filter((n) => DEMO_NAMESPACE.test(n))
  const own = labId === undefined ? [] : Object.values(labNamespaces(labId))
  return [...new Set([...own.filter((n) => names.includes(n)), ...names])]
}

/** Kills every process in the namespaces, then deletes them (as Lab.destroy does). */
export async function deleteNamespaces(namespaces: readonly string[]): Promise<void> {
  for (const ns of namespaces) {
    const pids = await run(binary('ip'), ['netns', 'pids', ns], { okCodes: [0, 1, 255] }).catch(() => ({ stdout: '' }))
    for (const pid of pids.stdout.split('\n').filter((p) => /^\d+$/.test(p))) {
      try { process.kill(Number(pid), 'SIGKILL') } catch { /* already gone */ }
    }
  }
  for (const ns of namespaces) await run(binary('ip'), ['netns', 'del', ns], { okCodes: [0, 1, 255] })
}

/**
 * Removes a demo: routerd, every demo namespace and, unless `keepDir`, the state directory.
 * Returns the namespaces it deleted (empty when nothing was up).
 */
export async function tearDownDemo(dir: string, opts: { keepDir?: boolean } = {}): Promise<string[]> {
  const state = readDemoState(dir)
  if (state?.routerdPid != null) await stopRouterd(state.routerdPid)
  const namespaces = await listDemoNamespaces(state?.labId)
  await deleteNamespaces(namespaces)
  if (opts.keepDir === true) rmSync(stateFile(dir), { force: true })
  else rmSync(dir, { recursive: true, force: true })
  return namespaces
}
