import { z } from 'zod'
import { ApiError, ErrorCode } from '../errors.js'

/**
 * Query parameters declared once: the same definition validates REST requests, describes the
 * parameter in the discovery document, and (later) types the MCP tool's input schema.
 */
export interface ParamDef<T = unknown, N extends string = string> {
  name: N
  /** The type name shown in discovery (`int`, `int64`, `string`, `boolean`). */
  type: 'int' | 'int64' | 'string' | 'boolean'
  description: string
  /** What a valid value looks like, for error messages ("an integer from 1 to 1000"). */
  expected: string
  /** Validates an already-typed value (JSON arguments use this directly). */
  schema: z.ZodType<T>
  default?: T
  required?: boolean
}

const INT = /^-?\d{1,16}$/

/** Converts a query-string value to the param's JSON type, strictly (no "12abc" → 12). */
function fromQuery(def: ParamDef, raw: string): unknown {
  switch (def.type) {
    case 'int':
    case 'int64':
      return INT.test(raw) ? Number(raw) : raw
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : raw
    default:
      return raw
  }
}

export const intParam = <N extends string>(name: N, description: string, min: number, max: number, def?: number): ParamDef<number, N> => ({
  name,
  type: 'int',
  description,
  expected: `an integer from ${min} to ${max}`,
  schema: z.number().int().min(min).max(max),
  ...(def !== undefined ? { default: def } : {}),
})

export const boolParam = <N extends string>(name: N, description: string, def?: boolean): ParamDef<boolean, N> => ({
  name,
  type: 'boolean',
  description,
  expected: 'true or false',
  schema: z.boolean(),
  ...(def !== undefined ? { default: def } : {}),
})

/** Marks a parameter as required. */
export const required = <T, N extends string>(def: ParamDef<T, N>): ParamDef<T, N> => ({ ...def, required: true })

export const timestampParam = <N extends string>(name: N, description: string): ParamDef<number, N> => ({
  name,
  type: 'int64',
  description,
  expected: 'a Unix timestamp in milliseconds',
  schema: z.number().int().min(0).max(8.64e15),
})

export const enumParam = <T extends string, N extends string>(name: N, description: string, values: readonly [T, ...T[]], def?: T): ParamDef<T, N> => ({
  name,
  type: 'string',
  description,
  expected: `one of ${values.join(', ')}`,
  schema: z.enum(values),
  ...(def !== undefined ? { default: def } : {}),
})

export const stringParam = <N extends string>(name: N, description: string, maxLength: number, pattern?: RegExp, expected?: string): ParamDef<string, N> => ({
  name,
  type: 'string',
  description,
  expected: expected ?? `a string of at most ${maxLength} characters`,
  schema: pattern ? z.string().max(maxLength).regex(pattern) : z.string().max(maxLength),
})

export type ParamValues<P extends readonly ParamDef[]> = {
  [K in P[number] as K['name']]: K extends ParamDef<infer T, string> ? T | undefined : never
}

/** Validates typed arguments (from JSON or a converted query string); unknown names are errors. */
export function validateArgs<P extends readonly ParamDef[]>(defs: P, args: Record<string, unknown>): ParamValues<P> {
  const known = new Set(defs.map((d) => d.name))
  for (const name of Object.keys(args)) {
    if (!known.has(name)) {
      throw new ApiError(400, ErrorCode.UNKNOWN_PARAMETER, `unknown parameter '${name}'; valid: ${[...known].join(', ')}`, {
        param: name,
        valid: [...known],
      })
    }
  }
  const out: Record<string, unknown> = {}
  for (const def of defs) {
    const value = args[def.name]
    if (value === undefined) {
      if (def.required) {
        throw new ApiError(400, ErrorCode.MISSING_PARAMETER, `missing ${def.name}: expected ${def.expected}`, {
          param: def.name,
          expected: def.expected,
        })
      }
      out[def.name] = def.default
      continue
    }
    const r = def.schema.safeParse(value)
    if (!r.success) {
      throw new ApiError(400, ErrorCode.INVALID_PARAMETER, `invalid ${def.name}: expected ${def.expected}, got ${JSON.stringify(value)}`, {
        param: def.name,
        value,
        expected: def.expected,
      })
    }
    out[def.name] = r.data
  }
  return out as ParamValues<P>
}

/** Validates a JSON request body (an object of typed arguments). */
export function validateBody<P extends readonly ParamDef[]>(defs: P, body: unknown): ParamValues<P> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, ErrorCode.INVALID_BODY, 'the request body must be a JSON object')
  }
  return validateArgs(defs, body as Record<string, unknown>)
}

/** Validates a query string: each parameter once, converted to its type first. */
export function validateQuery<P extends readonly ParamDef[]>(defs: P, query: Record<string, string[]>): ParamValues<P> {
  const byName = new Map(defs.map((d) => [d.name, d]))
  const args: Record<string, unknown> = {}
  for (const [name, values] of Object.entries(query)) {
    const def = byName.get(name)
    if (values.length > 1) {
      throw new ApiError(400, ErrorCode.INVALID_PARAMETER, `parameter '${name}' given ${values.length} times`, { param: name })
    }
    args[name] = def ? fromQuery(def, values[0] ?? '') : values[0]
  }
  return validateArgs(defs, args)
}
