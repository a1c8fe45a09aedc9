import { timingSafeEqual, createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

/** viewer: queries; admin: snapshots, exports, dissection control (and everything a viewer can). */
export type Role = 'viewer' | 'admin'

export interface Identity {
  name: string
  role: Role
}

interface TokenEntry extends Identity {
  /** SHA-256 of the token: comparisons run on equal-length digests, in constant time. */
  digest: Buffer
}

export class TokenFileError extends Error {
  readonly code = 'BAD_TOKENS_FILE'
  constructor(message: string) {
    super(message)
    this.name = 'TokenFileError'
  }
}

const digest = (token: string): Buffer => createHash('sha256').update(token).digest()

/**
 * The hub's bearer tokens. Lookups compare the SHA-256 of the presented token with every known
 * digest in constant time and never stop early, so timing reveals neither a token nor how many
 * characters of one were right.
 */
export class TokenSet {
  readonly #entries: TokenEntry[]

  constructor(entries: readonly { token: string; name: string; role: Role }[]) {
    this.#entries = entries.filter((e) => e.token !== '').map((e) => ({ name: e.name, role: e.role, digest: digest(e.token) }))
  }

  /** From the env/flag tokens and an optional mounted secret file. */
  static load(opts: { adminToken?: string | undefined; viewerToken?: string | undefined; tokensFile?: string | undefined }): TokenSet {
    const entries: { token: string; name: string; role: Role }[] = []
    if (opts.adminToken) entries.push({ token: opts.adminToken, name: 'admin', role: 'admin' })
    if (opts.viewerToken) entries.push({ token: opts.viewerToken, name: 'viewer', role: 'viewer' })
    if (opts.tokensFile) entries.push(...parseTokensFile(readFileSync(opts.tokensFile, 'utf8'), opts.tokensFile))
    return new TokenSet(entries)
  }

  get enabled(): boolean {
    return this.#entries.length > 0
  }

  lookup(token: string): Identity | undefined {
    const d = digest(token)
    let found: Identity | undefined
    for (const e of this.#entries) if (timingSafeEqual(d, e.digest) && found === undefined) found = { name: e.name, role: e.role }
    return found
  }
}

/**
 * A tokens file (e.g. a mounted Kubernetes Secret): one token per line, `<role> <name> <token>`,
 * `#` comments and blank lines ignored.
 */
export function parseTokensFile(text: string, source = 'tokens file'): { token: string; name: string; role: Role }[] {
  const out: { token: string; name: string; role: Role }[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const parts = line.split(/\s+/)
    const [role, name, token] = parts
    if (parts.length !== 3 || (role !== 'viewer' && role !== 'admin') || !name || !token) {
      throw new TokenFileError(`${source}:${i + 1}: expected '<viewer|admin> <name> <token>'`)
    }
    if (token.length < 16) throw new TokenFileError(`${source}:${i + 1}: token for '${name}' is shorter than 16 characters`)
    out.push({ role, name, token })
  })
  return out
}

export const roleAllows = (have: Role, need: Role): boolean => have === 'admin' || need === 'viewer'
