import { ApplianceError } from '../../core/errors.ts'
import { checkEntityId, checkFileName } from './identifiers.ts'
import { IMAGE_FORMAT_EXTENSIONS, type ImageFormatExtension } from './image-formats.ts'
import { parseProperties, renderProperties } from './properties.ts'

/**
 * `template.properties` / `volume.properties`: the record of one install on an image store.
 * The management server, KVM hosts and CloudStack's own SSVM read these files, so the keys are
 * CloudStack's:
 *   filename, description, hvm, size      written by createtmplt.sh / createvolume.sh
 *   checksum                              createvolume.sh only (volume.properties)
 *   id, public, uniquename, virtualsize   added by TemplateLocation.create / addFormat
 *   <ext>=true, <ext>.filename, <ext>.size, <ext>.virtualsize   TemplateLocation.save
 * `size` is the physical size in bytes, `virtualsize` the disk's virtual size. Pure.
 */

export type InstallKind = 'template' | 'volume'

/** One installed template, ISO or volume, as its properties file describes it. */
export interface InstallRecord {
  kind: InstallKind
  /** The template's or volume's database id. */
  id: number
  /** The install file name, extension included (`<name-uuid>.qcow2`, `<name>.iso`). */
  filename: string
  description: string
  hvm: boolean
  public: boolean
  /** Physical size of the file, bytes. */
  size: number
  /** Virtual size of the disk, bytes. */
  virtualSize: number
  format: ImageFormatExtension
  /** The management server's unique name of the template or volume (DownloadCommand `name`). */
  uniqueName: string
  /** volume.properties only: the checksum createvolume.sh was given ('' when none). */
  checksum?: string
}

/** The properties file's name for an install of this kind. Pure. */
export function propertiesFileName(kind: InstallKind): 'template.properties' | 'volume.properties' {
  return kind === 'template' ? 'template.properties' : 'volume.properties'
}

export interface RenderInstallOptions {
  /** For the `#<date>` line Java's store writes; null leaves it out. */
  writtenAt: Date | null
}

/**
 * Renders the properties file for an install exactly as CloudStack's store(out, "") would,
 * keys sorted (see renderProperties). Pure. Throws `ERR_BAD_ID`, `ERR_BAD_NAME` or
 * `ERR_BAD_INSTALL_RECORD` for a record CloudStack's loader would not count as installed.
 */
export function renderInstallProperties(record: InstallRecord, options: RenderInstallOptions): string {
  checkInstallRecord(record)
  const ext = record.format
  const entries = new Map<string, string>([
    ['filename', record.filename],
    ['description', record.description],
    ['hvm', String(record.hvm)],
    ['size', String(record.size)],
    ['id', String(record.id)],
    ['public', String(record.public)],
    ['uniquename', record.uniqueName],
    ['virtualsize', String(record.virtualSize)],
    [ext, 'true'],
    [`${ext}.filename`, record.filename],
    [`${ext}.size`, String(record.size)],
    [`${ext}.virtualsize`, String(record.virtualSize)],
  ])
  if (record.kind === 'volume') entries.set('checksum', record.checksum ?? '')
  return renderProperties(entries, { comment: '', date: options.writtenAt })
}

function checkInstallRecord(record: InstallRecord): void {
  checkEntityId(record.id, 'install id')
  checkFileName(record.filename, 'install file name')
  for (const [what, n] of [['size', record.size], ['virtualSize', record.virtualSize]] as const) {
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new ApplianceError('ERR_BAD_INSTALL_RECORD', `${what} must be a positive integer number of bytes, got ${n}`)
    }
  }
  if (!(IMAGE_FORMAT_EXTENSIONS as readonly string[]).includes(record.format)) {
    throw new ApplianceError('ERR_BAD_INSTALL_RECORD', `unknown image format ${JSON.stringify(record.format)}`)
  }
  if (record.uniqueName === '') throw new ApplianceError('ERR_BAD_INSTALL_RECORD', 'uniqueName must not be empty')
  if (record.kind === 'template' && record.checksum !== undefined) {
    throw new ApplianceError('ERR_BAD_INSTALL_RECORD', 'template.properties has no checksum key; checksum is for volumes')
  }
}

/**
 * Why a properties file does not describe a finished install:
 * - `no-uniquename`, `no-virtualsize`: CloudStack's loader fails; its listing deletes the dir.
 * - `no-format`: no `<ext>` key with an `<ext>.filename`; the loader fails likewise.
 * - `corrupt-format`: a format block names a file but its size or virtual size is not > 0.
 *   CloudStack lists such an install flagged `isCorrupted` (the management server then treats
 *   the copy as broken) rather than deleting it.
 * - `no-id`: `id` is missing or not a positive integer; CloudStack's listing would throw.
 */
export type NotInstalledReason = 'no-uniquename' | 'no-virtualsize' | 'no-format' | 'corrupt-format' | 'no-id'

export type InstallPropertiesReading =
  | { installed: true; record: InstallRecord }
  | { installed: false; reason: NotInstalledReason; message: string }

/**
 * Reads a properties file (text decoded as ISO-8859-1, as Java does) into an install record,
 * following TemplateLocation.load: installed only if `uniquename` and `virtualsize` exist and
 * a format block, scanned in CloudStack's enum order, has a filename, size > 0 and virtual
 * size > 0. The first such block gives `format`. Pure; never throws for content it cannot use
 * (that is a "not installed" answer), only `ERR_PROPERTIES_SYNTAX` for a broken \u escape.
 */
export function readInstallProperties(text: string, kind: InstallKind): InstallPropertiesReading {
  const props = parseProperties(text)
  const notInstalled = (reason: NotInstalledReason, message: string): InstallPropertiesReading => ({ installed: false, reason, message })

  let format: { ext: ImageFormatExtension; filename: string; size: number; virtualSize: number } | null = null
  let corrupt: string | null = null
  let namedFormats = 0
  for (const ext of IMAGE_FORMAT_EXTENSIONS) {
    const filename = props.get(`${ext}.filename`)
    if (props.get(ext) === undefined || filename === undefined) continue
    namedFormats++
    const size = parseJavaLong(props.get(`${ext}.size`))
    const virtualSize = parseJavaLong(props.get(`${ext}.virtualsize`))
    if (size > 0 && virtualSize > 0) format ??= { ext, filename, size, virtualSize }
    else corrupt ??= `format ${ext} has size ${size} and virtual size ${virtualSize}; both must be > 0`
  }

  const uniqueName = props.get('uniquename')
  if (uniqueName === undefined) return notInstalled('no-uniquename', "property 'uniquename' is missing")
  const virtualSizeText = props.get('virtualsize')
  if (virtualSizeText === undefined) return notInstalled('no-virtualsize', "property 'virtualsize' is missing")
  if (namedFormats === 0) return notInstalled('no-format', 'no format block (<ext>=… with <ext>.filename)')
  if (format === null) return notInstalled('corrupt-format', corrupt ?? 'no valid format block')
  const id = parseJavaLong(props.get('id'))
  if (id <= 0) return notInstalled('no-id', `property 'id' is missing or not a positive integer: ${JSON.stringify(props.get('id') ?? null)}`)

  const size = parseJavaLong(props.get('size'))
  const virtualSize = parseJavaLong(virtualSizeText)
  const record: InstallRecord = {
    kind,
    id,
    filename: props.get('filename') ?? format.filename,
    description: props.get('description') ?? '',
    hvm: parseJavaBoolean(props.get('hvm')),
    public: parseJavaBoolean(props.get('public')),
    size: size > 0 ? size : format.size,
    virtualSize: virtualSize > 0 ? virtualSize : format.virtualSize,
    format: format.ext,
    uniqueName,
  }
  const checksum = props.get('checksum')
  if (kind === 'volume' && checksum !== undefined) record.checksum = checksum
  return { installed: true, record }
}

/** NumbersUtil.parseLong(text, -1) for values we can hold: -1 unless a safe integer. */
function parseJavaLong(text: string | undefined): number {
  if (text === undefined || !/^[+-]?[0-9]+$/.test(text)) return -1
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : -1
}

/** Boolean.parseBoolean: "true" in any case is true, anything else false. */
function parseJavaBoolean(text: string | undefined): boolean {
  return text !== undefined && text.toLowerCase() === 'true'
}
