import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorCode } from '../../core/errors.ts'
import { propertiesFileName, readInstallProperties, type InstallKind, type InstallRecord } from '../layout/template-properties.ts'

/**
 * The installs of a store, read from their properties files as CloudStack's SSVM reads them:
 * `template/tmpl/<account>/<id>/template.properties`, `volumes/<account>/<id>/volume.properties`.
 * An install whose file lacks `uniquename` or `virtualsize`, or has no sized format block, is
 * not listed (it is reported apart, with why). Directories only: a symlink is never followed.
 */

export interface ListedInstall {
  accountId: number
  installPath: string
  record: InstallRecord
}

export interface Listing {
  installs: ListedInstall[]
  notListed: { path: string; reason: string }[]
}

const NUMBER = /^[1-9][0-9]{0,18}$/

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && NUMBER.test(e.name)).map((e) => e.name)
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return []
    throw err
  }
}

export async function listInstalls(root: string, kind: InstallKind): Promise<Listing> {
  const base = kind === 'template' ? 'template/tmpl' : 'volumes'
  const out: Listing = { installs: [], notListed: [] }
  for (const account of await subdirs(join(root, base))) {
    for (const id of await subdirs(join(root, base, account))) {
      const dir = `${base}/${account}/${id}`
      const text = await readFile(join(root, dir, propertiesFileName(kind)), 'latin1').catch(() => null)
      if (text === null) {
        out.notListed.push({ path: dir, reason: 'no properties file (an install in progress, or never finished)' })
        continue
      }
      let reading
      try {
        reading = readInstallProperties(text, kind)
      } catch (err) {
        out.notListed.push({ path: dir, reason: (err as Error).message })
        continue
      }
      if (!reading.installed) out.notListed.push({ path: dir, reason: reading.message })
      else out.installs.push({ accountId: Number(account), installPath: `${dir}/${reading.record.filename}`, record: reading.record })
    }
  }
  out.installs.sort((a, b) => a.accountId - b.accountId || a.record.id - b.record.id)
  return out
}
