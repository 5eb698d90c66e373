import type { Runner } from '../../core/exec.ts'

/** Sets kernel settings (one sysctl -w for all). */
export async function applySysctls(runner: Runner, values: Readonly<Record<string, string>>): Promise<void> {
  const entries = Object.entries(values)
  if (entries.length === 0) return
  await runner.run('sysctl', ['-q', '-w', ...entries.map(([k, v]) => `${k}=${v}`)])
}
