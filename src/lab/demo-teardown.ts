import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { binary, run } from '../core/exec.ts'
import { DEMO_NAMESPACE } from './demo-config.ts'
import { deleteNamespaces, labNamespaces } from './lab.ts'

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

/** Pure. Where the state file of a demo kept in `dir` lives. */
function stateFile(dir: string): string {
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

/** Writes the state file (lab id, routerd pid) that `down` and the next `up` read. */
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
async function stopRouterd(pid: number): Promise<void> {
  let cmdline = ''
  try { cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8') } catch { return }
  if (!cmdline.includes('routerd.mjs') && !cmdline.includes('router/main.js')) return
  try { process.kill(pid, 'SIGTERM') } catch { return }
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50))
  try { process.kill(pid, 'SIGKILL') } catch { /* exited */ }
}

/** The demo namespaces that exist now: those of `labId` plus any other `svmdemo<hex>-*` left behind. */
async function listDemoNamespaces(labId?: string): Promise<string[]> {
  const listed = await run(binary('ip'), ['netns', 'list'])
  const names = listed.stdout.split('\n').map((line) => line.split(' ')[0] ?? '').filter((n) => DEMO_NAMESPACE.test(n))
  const own = labId === undefined ? [] : Object.values(labNamespaces(labId))
  return [...new Set([...own.filter((n) => names.includes(n)), ...names])]
}

/**
 * Removes a demo: routerd, every demo namespace and the state directory. Returns the namespaces
 * it deleted (empty when nothing was up).
 */
export async function tearDownDemo(dir: string): Promise<string[]> {
  const state = readDemoState(dir)
  if (state?.routerdPid != null) await stopRouterd(state.routerdPid)
  const namespaces = await listDemoNamespaces(state?.labId)
  await deleteNamespaces(namespaces)
  rmSync(dir, { recursive: true, force: true })
  return namespaces
}
