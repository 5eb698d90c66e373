/**
 * Pure. Splits one line of batch input into arguments the way the tools do: on blanks, with
 * double quotes grouping and a backslash escaping the next character inside quotes
 * (iptables-restore's add_param_to_argv; iproute2's makeargs and ipset's restore behave alike
 * for what routerd writes). Returns undefined for an unterminated quote, which the tools refuse.
 */
export function splitLine(line: string): string[] | undefined {
  const out: string[] = []
  let current = ''
  let quoted = false
  let any = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string
    if (quoted && ch === '\\' && i + 1 < line.length) {
      current += line[++i]
    } else if (ch === '"') {
      quoted = !quoted
      any = true
    } else if (!quoted && (ch === ' ' || ch === '\t' || ch === '\r')) {
      if (any) out.push(current)
      current = ''
      any = false
    } else {
      current += ch
      any = true
    }
  }
  if (quoted) return undefined
  if (any) out.push(current)
  return out
}
