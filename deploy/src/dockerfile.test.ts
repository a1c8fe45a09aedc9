import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { DockerfileExpectations } from './dockerfile.js'
import { checkDockerfile, parseDockerfile } from './dockerfile.js'
import { deployDir } from './render.js'

const read = (name: string) => readFileSync(join(deployDir, 'docker', name), 'utf8')
const hubExpect: DockerfileExpectations = {
  entrypoint: ['node', 'apps/hub/dist/main.js'],
  nonRoot: true,
}
const agentExpect: DockerfileExpectations = {
  entrypoint: ['node', 'apps/node-agent/dist/main.js'],
  nonRoot: false,
  runtimePackages: ['libpcap0.8'],
}

describe('Dockerfiles (static checks: no Docker engine here)', () => {
  it('hub.Dockerfile', () => {
    expect(checkDockerfile(read('hub.Dockerfile'), hubExpect)).toEqual([])
  })

  it('agent.Dockerfile', () => {
    const text = read('agent.Dockerfile')
    expect(checkDockerfile(text, agentExpect)).toEqual([])
    const build = parseDockerfile(text)[0]!
    expect(build.instructions.find((i) => i.op === 'RUN')?.args).toMatch(
      /libpcap-dev python3 make g\+\+/
    )
  })

  it('the ignore files keep node_modules, build output, git and tokens out of the context', () => {
    for (const name of ['hub.Dockerfile.dockerignore', 'agent.Dockerfile.dockerignore']) {
      const lines = read(name)
        .split('\n')
        .map((l) => l.trim())
      for (const entry of ['.git', '**/node_modules', '**/dist', 'deploy/**/hub-auth-token.txt']) {
        expect(lines, `${name}: ${entry}`).toContain(entry)
      }
    }
  })

  it('flags an unpinned or latest base image', () => {
    const hub = read('hub.Dockerfile')
    expect(
      checkDockerfile(hub.replace('node:20.20.2-bookworm-slim', 'node:latest'), hubExpect).join(
        '\n'
      )
    ).toMatch(/latest/)
    expect(
      checkDockerfile(
        hub.replace('node:20.20.2-bookworm AS', 'node:20-bookworm AS'),
        hubExpect
      ).join('\n')
    ).toMatch(/FROM node:20-bookworm/)
    expect(
      checkDockerfile(hub.replace('node:20.20.2-bookworm-slim', 'node'), hubExpect)
    ).not.toEqual([])
  })

  it('flags a hub that runs as root or has no USER', () => {
    const hub = read('hub.Dockerfile')
    expect(checkDockerfile(hub.replace('USER node', 'USER root'), hubExpect).join('\n')).toMatch(
      /root/
    )
    expect(checkDockerfile(hub.replace('USER node', ''), hubExpect).join('\n')).toMatch(/no USER/)
  })

  it('flags a single-stage build, a wrong entrypoint and a missing runtime library', () => {
    const agent = read('agent.Dockerfile')
    const singleStage = agent.slice(agent.indexOf('FROM node:20.20.2-bookworm-slim'))
    expect(checkDockerfile(singleStage, agentExpect).join('\n')).toMatch(/multi-stage/)
    expect(
      checkDockerfile(agent.replace('apps/node-agent/dist/main.js', 'main.js'), agentExpect).join(
        '\n'
      )
    ).toMatch(/entrypoint/)
    expect(checkDockerfile(agent.replace(' libpcap0.8', ''), agentExpect).join('\n')).toMatch(
      /libpcap0\.8/
    )
  })
})
