import { readFile } from 'node:fs/promises'

/**
 * Pure. The mount points listed in /proc/self/mountinfo (field 5), with the octal escapes the
 * kernel writes for spaces and the like decoded.
 */
export function mountPoints(mountinfo: string): Set<string> {
  const out = new Set<string>()
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4]
    if (field !== undefined && field !== '') out.add(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
  }
  return out
}

/** Whether something is mounted exactly at `path` now. */
export async function isMountPoint(path: string): Promise<boolean> {
  return mountPoints(await readFile('/proc/self/mountinfo', 'utf8')).has(path)
}
