import { renderInstallProperties, propertiesFileName, type InstallKind, type InstallRecord } from '../layout/template-properties.ts'
import { splitStorePath } from '../layout/safe-path.ts'
import { writeFileDurable } from './files.ts'

/** Writes the properties file that makes an install listed: the last step of every install. */
export async function writeInstallProperties(dir: string, record: InstallRecord): Promise<void> {
  await writeFileDurable(dir, propertiesFileName(record.kind), renderInstallProperties(record, { writtenAt: new Date() }))
}

/** Where objects live in a store, by the first path segments (CloudStack's layout). */
export type LayoutPlace =
  | { kind: 'template' | 'volume'; dir: string; file: string | null }
  | { kind: 'snapshot'; dir: string; file: string | null }

const NUMBER = /^[1-9][0-9]{0,18}$/

/**
 * Pure. Where a relative path sits in the layout: an install directory (or a file in it) under
 * `template/tmpl/<account>/<id>` or `volumes/<account>/<id>`, or a snapshot directory or file
 * under `snapshots/<account>/<volume>`. Anything else (the store root, `template/`, a path
 * deeper than a file in those) is null: jobs touch only objects of the layout.
 */
export function layoutPlace(relative: string): LayoutPlace | null {
  let segments: string[]
  try {
    segments = splitStorePath(relative)
  } catch {
    return null
  }
  const at = (n: number, kind: LayoutPlace['kind']): LayoutPlace | null => {
    const ids = segments.slice(n, n + 2)
    if (ids.length < 2 || !ids.every((s) => NUMBER.test(s)) || segments.length > n + 3) return null
    return { kind, dir: segments.slice(0, n + 2).join('/'), file: segments[n + 2] ?? null } as LayoutPlace
  }
  if (segments[0] === 'template' && segments[1] === 'tmpl') return at(2, 'template')
  if (segments[0] === 'volumes') return at(1, 'volume')
  if (segments[0] === 'snapshots') return at(1, 'snapshot')
  return null
}

export type { InstallKind, InstallRecord }
