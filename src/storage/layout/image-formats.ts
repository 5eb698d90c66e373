/**
 * Image format file extensions, in the order of CloudStack's `Storage.ImageFormat` enum.
 * The order matters: CloudStack's TemplateLocation.load scans a properties file for format
 * blocks in this order, and so does readInstallProperties. BAREMETAL's extension is its
 * upper-case enum name (it has none of its own), kept so such a file still reads.
 */
export const IMAGE_FORMAT_EXTENSIONS = ['qcow2', 'raw', 'vhd', 'iso', 'ova', 'vhdx', 'BAREMETAL', 'vmdk', 'vdi', 'tar', 'dir'] as const

export type ImageFormatExtension = (typeof IMAGE_FORMAT_EXTENSIONS)[number]

/** True when `ext` is one of CloudStack's format extensions (case-sensitive, as Java compares). Pure. */
export function isImageFormatExtension(ext: string): ext is ImageFormatExtension {
  return (IMAGE_FORMAT_EXTENSIONS as readonly string[]).includes(ext)
}
