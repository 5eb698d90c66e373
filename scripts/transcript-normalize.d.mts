export function sortMembers(text: string): string
export function normalizeOutput(compare: 'exact' | 'save' | 'ipset-save' | 'json', text: string): string
