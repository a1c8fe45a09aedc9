/**
 * Static checks for deploy/docker/*.Dockerfile (no Docker engine here to build them): pinned base
 * images, multi-stage, the contract entrypoint, and a non-root final stage where one is required.
 */

export interface Stage {
  from: string
  alias?: string
  instructions: { op: string; args: string }[]
}

/** Instructions per stage; line continuations joined, comments and blank lines dropped. */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = []
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (pending === '' && (line === '' || line.startsWith('#'))) continue
    if (line.startsWith('#')) continue
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `
      continue
    }
    logical.push(pending + line)
    pending = ''
  }
  if (pending) logical.push(pending)
  const stages: Stage[] = []
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l)
    if (!m) continue
    const op = m[1]!.toUpperCase()
    const args = m[2] ?? ''
    if (op === 'FROM') {
      const [, image = '', alias] =
        /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(args) ?? []
      stages.push({ from: image, ...(alias ? { alias } : {}), instructions: [] })
    } else if (op !== 'ARG' || stages.length > 0) {
      stages.at(-1)?.instructions.push({ op, args })
    }
  }
  return stages
}

export interface DockerfileExpectations {
  /** The final stage's entrypoint, as the exec-form array. */
  entrypoint: string[]
  /** The final stage must switch to a non-root user. */
  nonRoot: boolean
  /** Debian packages the runtime stage must install (e.g. libpcap0.8). */
  runtimePackages?: string[]
}

/** Problems with a Dockerfile, empty when it is fine. */
export function checkDockerfile(text: string, expect: DockerfileExpectations): string[] {
  const problems: string[] = []
  const stages = parseDockerfile(text)
  if (stages.length < 2) problems.push('not multi-stage')
  const aliases = new Set(stages.map((s) => s.alias).filter(Boolean))
  for (const s of stages) {
    if (aliases.has(s.from)) continue // FROM an earlier stage
    const pinned = /^node:20\.\d+\.\d+-bookworm(-slim)?(@sha256:[0-9a-f]{64})?$/.test(s.from)
    if (!pinned)
      problems.push(
        `FROM ${s.from}: pin node:20.<minor>.<patch>-bookworm[-slim] (never latest or a floating tag)`
      )
  }
  const first = stages[0]
  const last = stages.at(-1)
  if (first && !/-bookworm(@|$)/.test(first.from))
    problems.push('the build stage is not node:*-bookworm')
  if (last && !/-bookworm-slim(@|$)/.test(last.from))
    problems.push('the runtime stage is not node:*-bookworm-slim')
  const version = (from: string | undefined) => /^node:(\d+\.\d+\.\d+)/.exec(from ?? '')?.[1]
  if (first && last && version(first.from) !== version(last.from))
    problems.push('build and runtime Node versions differ')

  const runs = stages
    .flatMap((s) => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args))
    .join('\n')
  if (!/\bnpm ci\b/.test(runs)) problems.push('no `npm ci`')
  if (!/\bnpm run build\b/.test(runs)) problems.push('no `npm run build`')

  const finalOps = last?.instructions ?? []
  if (finalOps.some((i) => i.op === 'RUN' && /\bnpm (ci|install|run)\b/.test(i.args))) {
    problems.push('the runtime stage runs npm (it should only copy)')
  }
  const users = finalOps.filter((i) => i.op === 'USER').map((i) => i.args.trim())
  const user = users.at(-1)
  if (expect.nonRoot) {
    if (!user) problems.push('no USER in the runtime stage')
    else if (/^(root|0)(:|$)/.test(user)) problems.push(`runtime USER ${user} is root`)
  } else if (!user) {
    problems.push('no explicit USER in the runtime stage (say root on purpose)')
  }
  const entry = finalOps.filter((i) => i.op === 'ENTRYPOINT' || i.op === 'CMD').at(-1)
  let argv: unknown
  try {
    argv = entry ? JSON.parse(entry.args) : undefined
  } catch {
    argv = undefined
  }
  if (JSON.stringify(argv) !== JSON.stringify(expect.entrypoint)) {
    problems.push(
      `entrypoint is ${entry?.args ?? 'missing'}, expected exec form ${JSON.stringify(expect.entrypoint)}`
    )
  }
  const finalRuns = finalOps
    .filter((i) => i.op === 'RUN')
    .map((i) => i.args)
    .join('\n')
  for (const pkg of expect.runtimePackages ?? []) {
    if (
      !new RegExp(`apt-get install[^\\n]*\\s${pkg.replace(/\./g, '\\.')}(\\s|$)`).test(finalRuns)
    ) {
      problems.push(`the runtime stage does not install ${pkg}`)
    }
  }
  if (
    /\blatest\b/.test(
      text
        .split('\n')
        .filter((l) => !l.trim().startsWith('#'))
        .join('\n')
    )
  )
    problems.push('mentions latest')
  return problems
}
