// What varies between runs of the real tools, taken out the same way when a transcript is
// recorded (scripts/record-fake-kernel.mjs) and when the fake's answers are compared with it
// (test/unit/kernel/fake/replay.test.ts): iptables-save's date lines, ipset's initval and member
// order (hash order), and in ip -json the veth peers, IPv6 routes, DAD's "tentative" flag and M-DOWN.

/** ipset save lists members in hash order: sorted within each set. */
export function sortMembers(text) {
  const out = []
  let adds = []
  const flush = () => { out.push(...adds.sort()); adds = [] }
  for (const line of text.split('\n')) {
    if (line.startsWith('add ')) adds.push(line)
    else { flush(); out.push(line) }
  }
  flush()
  return out.join('\n')
}

/** `text` (a tool's stdout) with what varies between runs taken out, by the step's `compare` kind. */
export function normalizeOutput(compare, text) {
  if (compare === 'save') return text.replace(/^#.*\n/gm, '')
  if (compare === 'ipset-save') return sortMembers(text.replace(/ initval 0x[0-9a-f]+/g, ''))
  if (compare === 'json') {
    const list = JSON.parse(text)
    return JSON.stringify(list
      .filter((o) => !String(o.ifname ?? '').startsWith('peer') && !String(o.dev ?? '').startsWith('peer'))
      .filter((o) => !String(o.dst ?? '').includes(':'))
      .map((o) => {
        const { link: _link, ...rest } = o
        if (Array.isArray(rest.addr_info)) rest.addr_info = rest.addr_info.map(({ tentative: _t, ...a }) => a)
        if (Array.isArray(rest.flags)) rest.flags = rest.flags.filter((f) => f !== 'M-DOWN')
        return rest
      }))
  }
  return text
}
