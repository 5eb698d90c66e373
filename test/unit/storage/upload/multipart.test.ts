import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MultipartParser, parseBoundary, parseHeaderParams, parsePartHeaders, type MultipartEvent } from '../../../../src/storage/upload/multipart.ts'

/** Parses `body` pushed in pieces of the given sizes (cycled); returns parts with their joined data. */
function parse(boundary: string, body: Buffer, sizes: readonly number[] = [body.length]) {
  const parser = new MultipartParser(boundary)
  const parts: { name: string; fileName: string | undefined; contentType: string | undefined; data: Buffer }[] = []
  let current: Buffer[] = []
  let ended = false
  const events: MultipartEvent[] = []
  let pos = 0
  let i = 0
  while (pos < body.length) {
    const n = Math.max(1, sizes[i++ % sizes.length] ?? 1)
    events.length = 0
    parser.push(body.subarray(pos, pos + n), events)
    pos += n
    for (const ev of events) {
      if (ev.kind === 'part') {
        parts.push({ ...ev.headers, data: Buffer.alloc(0) })
        current = []
      } else if (ev.kind === 'data') current.push(Buffer.from(ev.chunk))
      else if (ev.kind === 'partEnd') (parts[parts.length - 1] as { data: Buffer }).data = Buffer.concat(current)
      else ended = true
    }
  }
  parser.end()
  return { parts, ended }
}

function body(boundary: string, parts: { headers: string[]; data: Buffer | string }[], opts: { preamble?: string; epilogue?: string } = {}): Buffer {
  const chunks: Buffer[] = [Buffer.from(opts.preamble ?? '')]
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n${p.headers.join('\r\n')}\r\n\r\n`), Buffer.from(p.data), Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n${opts.epilogue ?? ''}`))
  return Buffer.concat(chunks)
}

const B = '----WebKitFormBoundary7MA4YWxkTrZu0gW'

describe('parseBoundary', () => {
  it.each([
    ['multipart/form-data; boundary=abc', 'abc'],
    ['Multipart/Form-Data; boundary="a b:c"', 'a b:c'],
    [`multipart/form-data; charset=utf-8; boundary=${B}`, B],
  ])('reads %j', (header, expected) => {
    expect(parseBoundary(header)).toBe(expected)
  })

  it.each([
    [undefined, 'no Content-Type'],
    ['application/octet-stream', 'another type'],
    ['multipart/form-data', 'no boundary'],
    ['multipart/form-data; boundary=', 'an empty boundary'],
    [`multipart/form-data; boundary=${'x'.repeat(71)}`, 'a boundary over 70 characters'],
    ['multipart/form-data; boundary="ends with space "', 'a boundary ending in a space'],
  ])('refuses %j (%s)', (header, _why) => {
    expect(() => parseBoundary(header)).toThrow(expect.objectContaining({ code: 'ERR_UPLOAD_MALFORMED' }))
  })
})

describe('MultipartParser', () => {
  const file = randomBytes(200_000)
  // Bytes that look like the start of a delimiter inside the data, at the end and across pushes.
  const tricky = Buffer.concat([Buffer.from(`x\r\n--${B.slice(0, 10)}y\r\n-\r\n--`), randomBytes(1000), Buffer.from(`\r\n--${B.slice(0, -1)}`), Buffer.from('\r')])
  const form = body(B, [
    { headers: ['Content-Disposition: form-data; name="signature"'], data: 'c2lnbmF0dXJl' },
    { headers: ['Content-Disposition: form-data; name="files[]"; filename="débian 12.qcow2"', 'Content-Type: application/octet-stream'], data: file },
    { headers: ['content-disposition: form-data; name="tricky"; filename="t"'], data: tricky },
    { headers: ['Content-Disposition: form-data; name="empty"'], data: '' },
  ], { preamble: 'ignored preamble\r\n', epilogue: 'ignored epilogue' })

  it.each([
    { name: 'in one push', sizes: [form.length] },
    { name: 'byte by byte', sizes: [1] },
    { name: 'in pushes of 2, 3, 5, 7 bytes', sizes: [2, 3, 5, 7] },
    { name: 'in pushes just under the delimiter length', sizes: [B.length + 3] },
    { name: 'in 64 KiB pushes', sizes: [65536] },
    { name: 'in random pushes', sizes: Array.from({ length: 50 }, () => 1 + Math.floor(Math.random() * 9000)) },
  ])('gives the same parts whatever the chunking: $name', ({ sizes }) => {
    const { parts, ended } = parse(B, form, sizes)
    expect(ended).toBe(true)
    expect(parts.map((p) => [p.name, p.fileName, p.contentType])).toEqual([
      ['signature', undefined, undefined],
      ['files[]', 'débian 12.qcow2', 'application/octet-stream'],
      ['tricky', 't', undefined],
      ['empty', undefined, undefined],
    ])
    expect(parts[0]?.data.toString()).toBe('c2lnbmF0dXJl')
    expect(Buffer.compare(parts[1]?.data ?? Buffer.alloc(0), file)).toBe(0)
    expect(Buffer.compare(parts[2]?.data ?? Buffer.alloc(0), tricky)).toBe(0)
    expect(parts[3]?.data.length).toBe(0)
  })

  it('hands data over as views of the pushed chunk (no copy) when no delimiter prefix is pending', () => {
    const parser = new MultipartParser('b')
    const events: MultipartEvent[] = []
    parser.push(Buffer.from('--b\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'), events)
    const chunk = Buffer.alloc(4096, 0x41)
    events.length = 0
    parser.push(chunk, events)
    expect(events).toHaveLength(1)
    const ev = events[0] as { kind: 'data'; chunk: Buffer }
    expect(ev.chunk.buffer).toBe(chunk.buffer)
    expect(ev.chunk.length).toBe(4096)
  })

  it('accepts transport padding after a boundary and a body with no preamble CRLF', () => {
    const text = Buffer.from('--b  \t\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b--')
    expect(parse('b', text).parts.map((p) => p.data.toString())).toEqual(['v'])
  })

  it.each([
    { name: 'no closing boundary', text: '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue' },
    { name: 'nothing but a preamble', text: 'just text' },
    { name: 'a boundary not followed by CRLF', text: '--bX\r\n' },
    { name: 'a part without Content-Disposition', text: '--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--' },
    { name: 'a part without a name', text: '--b\r\nContent-Disposition: form-data; filename="x"\r\n\r\nv\r\n--b--' },
    { name: 'an attachment disposition', text: '--b\r\nContent-Disposition: attachment; name="a"\r\n\r\nv\r\n--b--' },
    { name: 'folded headers', text: '--b\r\nContent-Disposition: form-data;\r\n name="a"\r\n\r\nv\r\n--b--' },
    { name: 'a header line without a colon', text: '--b\r\nnonsense\r\n\r\nv\r\n--b--' },
    { name: 'two Content-Disposition headers', text: '--b\r\nContent-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"\r\n\r\nv\r\n--b--' },
    { name: 'headers over 8 KiB', text: `--b\r\nContent-Disposition: form-data; name="a"\r\nX-Pad: ${'p'.repeat(9000)}\r\n\r\nv\r\n--b--` },
    { name: 'a preamble over 64 KiB', text: `${'p'.repeat(70_000)}\r\n--b--` },
    { name: 'an epilogue over 64 KiB', text: `--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b--${'e'.repeat(70_000)}` },
    { name: 'more than 32 parts', text: `${'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n'.repeat(33)}--b--` },
  ])('refuses $name (ERR_UPLOAD_MALFORMED)', ({ text }) => {
    for (const sizes of [[text.length], [3]]) {
      expect(() => parse('b', Buffer.from(text), sizes)).toThrow(expect.objectContaining({ code: 'ERR_UPLOAD_MALFORMED' }))
    }
  })
})

describe('part headers', () => {
  it('reads quoted names with escapes, unquoted values, and filename* (RFC 5987)', () => {
    expect(parsePartHeaders('Content-Disposition: form-data; name="a\\"b"; filename=plain.iso')).toEqual({ name: 'a"b', fileName: 'plain.iso', contentType: undefined })
    expect(parsePartHeaders("Content-Disposition: form-data; name=f; filename=\"x\"; filename*=UTF-8''%E2%82%AC.qcow2").fileName).toBe('€.qcow2')
    expect(parseHeaderParams('form-data; ; name="x"; junk; name="second"').params.get('name')).toBe('x')
  })
})
