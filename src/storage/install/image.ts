import { randomBytes } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ApplianceError } from '../../core/errors.ts'
import { decompressFile } from '../download/decompress.ts'
import { checkDeclaredFormat, parseDeclaredFormat } from '../image/declared-format.ts'
import { createSniffer, type SniffResult } from '../image/sniffer.ts'
import { downloadTempName, installFileName } from '../layout/paths.ts'
import { publish } from './files.ts'
import { writeInstallProperties } from './record.ts'

/**
 * The end every image install shares (a download, an upload): a verified temporary file in its
 * install directory becomes the install. A compressed file is unpacked into a second temporary
 * file (bounded by `maxBytes`); the format read from the bytes must agree with the declared one
 * and with the resource (an ISO is an ISO); then fsync, rename to CloudStack's install name, and
 * the properties file that makes it listed.
 */

export interface ImageTarget {
  resource: 'template' | 'iso' | 'volume'
  id: number
  name: string
  description?: string | undefined
  hvm?: boolean | undefined
  public?: boolean | undefined
  /** The declared format, if any. */
  format?: string | undefined
  /** The checksum the orchestrator gave (volume.properties keeps it). */
  checksum?: string | undefined
}

export interface InstallImageInput {
  /** The install directory (absolute, inside its store) and its path relative to the store. */
  dir: string
  relDir: string
  /** The verified, fsynced temporary file in `dir`, and what a sniffer saw of its bytes. */
  temp: string
  sniffed: SniffResult
  target: ImageTarget
  startedAtMs: number
  maxBytes: number
  signal: AbortSignal
  /** Told the name of the unpacked temporary file before it is written (to remove it after a crash). */
  onUnpackTemp: (name: string) => void
}

export interface InstalledImage { installPath: string; format: string; size: number; virtualSize: number }

/** Syncs a file written through a stream before it is renamed into place. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export async function installImage(input: InstallImageInput): Promise<InstalledImage> {
  const { dir, target } = input
  let image = input.temp
  let sniffed = input.sniffed
  if (sniffed.compression !== 'none') {
    const unpacked = downloadTempName(randomBytes(8))
    input.onUnpackTemp(unpacked)
    const inner = createSniffer()
    await decompressFile(join(dir, input.temp), join(dir, unpacked), { maxBytes: input.maxBytes, signal: input.signal, onChunk: (c) => inner.update(c) })
    await syncFile(join(dir, unpacked))
    await rm(join(dir, input.temp), { force: true })
    image = unpacked
    sniffed = inner.result()
    if (sniffed.compression !== 'none') throw new ApplianceError('ERR_FORMAT_UNSUPPORTED', `the image is compressed twice (${sniffed.compression} inside)`)
  }
  if (target.format !== undefined) checkDeclaredFormat(parseDeclaredFormat(target.format), sniffed.format)
  if ((target.resource === 'iso') !== (sniffed.format === 'iso')) {
    throw new ApplianceError('ERR_FORMAT_MISMATCH', target.resource === 'iso' ? `an ISO was asked for but the image is ${sniffed.format}` : `a ${target.resource} was asked for but the image is an ISO`)
  }
  const filename = installFileName({ name: target.name, format: sniffed.format, startedAtMs: input.startedAtMs })
  await publish(dir, image, filename)
  await writeInstallProperties(dir, {
    kind: target.resource === 'volume' ? 'volume' : 'template', id: target.id, filename, description: target.description ?? target.name,
    hvm: target.hvm ?? true, public: target.public ?? false, size: sniffed.physicalSize, virtualSize: sniffed.virtualSize,
    format: sniffed.format, uniqueName: target.name, ...(target.resource === 'volume' ? { checksum: target.checksum ?? '' } : {}),
  })
  return { installPath: `${input.relDir}/${filename}`, format: sniffed.format, size: sniffed.physicalSize, virtualSize: sniffed.virtualSize }
}
