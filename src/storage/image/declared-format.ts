import { ApplianceError } from '../../core/errors.ts'
import type { ImageFormat } from './detect.ts'

/**
 * Pure. The format the management server declared (the template's format, which is also the
 * install file's extension: template/tmpl/<account>/<id>/<name>.<ext>) against what the bytes
 * are. Compression is not part of the declaration; it is undone before the format is judged.
 *
 * Stricter than CloudStack's ImageStoreUtil.checkTemplateFormat, which accepts any bytes
 * declared raw/img: a qcow2 or VHD declared raw would be installed with a virtual size that is
 * its file size, so here raw means raw. VHDX is refused (detect.ts says why).
 */

export type DeclaredFormat = 'qcow2' | 'vhd' | 'ova' | 'iso' | 'raw' | 'img' | 'vmdk' | 'tar'

const DECLARED: readonly DeclaredFormat[] = ['qcow2', 'vhd', 'ova', 'iso', 'raw', 'img', 'vmdk', 'tar']

/** What each declaration accepts. An OVA is a tar whose first member is the OVF, so tar accepts it. */
const ACCEPTS: Record<DeclaredFormat, readonly ImageFormat[]> = {
  qcow2: ['qcow2'],
  vhd: ['vhd'],
  ova: ['ova'],
  iso: ['iso'],
  raw: ['raw'],
  img: ['raw'],
  vmdk: ['vmdk'],
  tar: ['tar', 'ova'],
}

/**
 * Pure. A declared format (CloudStack's ImageFormat name or extension, any case). Throws
 * ERR_FORMAT_UNSUPPORTED for VHDX and for names CloudStack does not download (e.g. DIR, BAREMETAL).
 */
export function parseDeclaredFormat(text: string): DeclaredFormat {
  const lower = text.trim().toLowerCase()
  const found = DECLARED.find((d) => d === lower)
  if (found !== undefined) return found
  throw new ApplianceError('ERR_FORMAT_UNSUPPORTED',
    lower === 'vhdx' ? 'VHDX images are not supported; convert to VHD or QCOW2' : `format "${text}" is not one of ${DECLARED.join(', ')}`)
}

/** Pure. True when bytes detected as `detected` may be installed as `declared`. */
export function declaredFormatMatches(declared: DeclaredFormat, detected: ImageFormat): boolean {
  return ACCEPTS[declared].includes(detected)
}

/** Pure. Throws ERR_FORMAT_MISMATCH unless declaredFormatMatches. */
export function checkDeclaredFormat(declared: DeclaredFormat, detected: ImageFormat): void {
  if (!declaredFormatMatches(declared, detected)) {
    throw new ApplianceError('ERR_FORMAT_MISMATCH', `declared ${declared} but the image is ${detected}`)
  }
}
