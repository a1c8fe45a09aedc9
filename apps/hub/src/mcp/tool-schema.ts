import { z } from 'zod'
import { ApiError, ErrorCode } from '../errors.js'
import type { ParamDef } from '../routes/params.js'
import { validateArgs } from '../routes/params.js'
import type { RouteDef } from '../routes/route-defs.js'

/** A `:name` segment of a route path; its value goes into the URL, not the query or body. */
export interface PathParam {
  name: string
  /** The route's own ParamDef of that name, when it declares one. */
  def: ParamDef | undefined
}

export interface ToolShape {
  /** JSON Schema (2020-12) object advertised as the tool's inputSchema. */
  inputSchema: Record<string, unknown>
  pathParams: PathParam[]
  /** The params that travel in the query or the JSON body (RouteDef.input). */
  params: readonly ParamDef[]
}

// A path segment value: non-empty, no slash; the route validates the rest.
const PATH_SEGMENT = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^/]+$/)

export const isRequired = (def: ParamDef): boolean => def.required === true

function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, {
    unrepresentable: 'any',
    io: 'input',
  }) as Record<string, unknown>
  return rest
}

function paramJsonSchema(def: ParamDef): Record<string, unknown> {
  // The SAME zod schema that validates REST, converted: `limit` is an integer with its bounds.
  return {
    ...jsonSchemaOf(def.schema),
    description: `${def.description}${def.description.endsWith('.') ? '' : '.'} Expected: ${def.expected}.`,
    ...(def.default !== undefined ? { default: def.default } : {}),
  }
}

const shapes = new WeakMap<RouteDef, ToolShape>()

/** The tool's input schema and argument routing, derived once per RouteDef. */
export function toolShape(route: RouteDef): ToolShape {
  const cached = shapes.get(route)
  if (cached) return cached
  const names = [...route.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!)
  const pathParams = names.map((name) => ({ name, def: route.params.find((p) => p.name === name) }))
  const params = route.params.filter((p) => !names.includes(p.name))
  const properties: Record<string, unknown> = {}
  const required: string[] = []
  for (const p of pathParams) {
    properties[p.name] = p.def
      ? paramJsonSchema(p.def)
      : { ...jsonSchemaOf(PATH_SEGMENT), description: `The ${p.name} (path parameter).` }
    required.push(p.name)
  }
  for (const def of params) {
    properties[def.name] = paramJsonSchema(def)
    if (isRequired(def)) required.push(def.name)
  }
  const inputSchema: Record<string, unknown> = {
    type: 'object',
    properties,
    ...(required.length ? { required } : {}),
    additionalProperties: false,
  }
  const shape = { inputSchema, pathParams, params }
  shapes.set(route, shape)
  return shape
}

export const bodyInput = (route: RouteDef): boolean => route.input === 'body'

/** Validated values are scalars; anything else is shown as JSON rather than "[object Object]". */
const scalar = (v: unknown): string =>
  typeof v === 'string'
    ? v
    : typeof v === 'number' || typeof v === 'boolean'
      ? String(v)
      : JSON.stringify(v)

export interface PreparedCall {
  method: RouteDef['method']
  /** Path with path parameters filled in, plus the query string for query routes. */
  url: string
  /** JSON body for routes that take one. */
  body: string | undefined
}

/**
 * Checks typed tool arguments with the route's own validator (same errors, same codes as REST)
 * and turns them into the HTTP request the REST route answers. Only what the caller gave is
 * sent: defaults stay the route's business. Throws ApiError on bad arguments.
 */
export function prepareCall(route: RouteDef, args: Record<string, unknown>): PreparedCall {
  const shape = toolShape(route)
  const rest: Record<string, unknown> = { ...args }
  let path = route.path
  for (const p of shape.pathParams) {
    const value = rest[p.name]
    delete rest[p.name]
    if (value === undefined) {
      const expected = p.def?.expected ?? 'a non-empty string without "/"'
      throw new ApiError(
        400,
        ErrorCode.MISSING_PARAMETER,
        `missing ${p.name}: expected ${expected}`,
        { param: p.name, expected }
      )
    }
    const ok =
      (p.def?.schema ?? PATH_SEGMENT).safeParse(value).success &&
      PATH_SEGMENT.safeParse(scalar(value)).success
    if (!ok) {
      const expected = p.def?.expected ?? 'a non-empty string without "/"'
      throw new ApiError(
        400,
        ErrorCode.INVALID_PARAMETER,
        `invalid ${p.name}: expected ${expected}, got ${JSON.stringify(value)}`,
        {
          param: p.name,
          value,
          expected,
        }
      )
    }
    path = path.replace(`:${p.name}`, encodeURIComponent(scalar(value)))
  }
  validateArgs(shape.params, rest)
  if (bodyInput(route)) return { method: route.method, url: path, body: JSON.stringify(rest) }
  const query = new URLSearchParams()
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) query.set(k, scalar(v))
  const qs = query.toString()
  return { method: route.method, url: qs ? `${path}?${qs}` : path, body: undefined }
}
