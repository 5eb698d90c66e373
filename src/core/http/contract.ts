import Type from 'typebox'

/**
 * The shapes every daemon's control API shares, as TypeBox schemas: the error body, a config
 * diagnostic and the If-Match header on the document's generation. Each daemon's own
 * contract (router/api/contract.ts, storage/api/contract.ts) re-exports them, so svmctl and
 * the daemons read one definition.
 */

export const Diagnostic = Type.Object({
  severity: Type.Union([Type.Literal('error'), Type.Literal('warning')]),
  path: Type.String(),
  code: Type.String(),
  message: Type.String(),
})

export const ErrorResponse = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: true, description: 'Also `diagnostics` (ERR_CONFIG_INVALID, ERR_BAD_REQUEST) or tool, line, lineText, context (ERR_KERNEL_REJECTED)' }),
})

/** `If-Match: "<generation>"`: the edit applies only if the document is still at that generation. */
export const IfMatch = Type.Object({ 'if-match': Type.Optional(Type.String({ pattern: '^(W/)?"?[0-9]+"?$' })) })

/** The generation an If-Match header names, if any. */
export function ifMatch(headers: Record<string, unknown>): number | undefined {
  const raw = headers['if-match']
  return typeof raw === 'string' ? Number(raw.replace(/\D/g, '')) : undefined
}
