import { describe, expect, it } from 'vitest'
import { FlagError, parseDuration, parseFlags, parseSize } from './flags.js'

describe('flags', () => {
  const specs = [
    { name: 'port', env: 'HUB_PORT', default: '8898', description: 'port' },
    { name: 'nats', env: 'NATS_URL', default: 'nats://127.0.0.1:4222', description: 'nats' },
    { name: 'verbose', boolean: true, description: 'v' },
  ]

  it('takes flags over env over defaults', () => {
    expect(parseFlags([], {}, specs).port).toBe('8898')
    expect(parseFlags([], { HUB_PORT: '9000' }, specs).port).toBe('9000')
    expect(parseFlags(['--port', '9100'], { HUB_PORT: '9000' }, specs).port).toBe('9100')
    expect(parseFlags(['--port=9200', '--verbose'], {}, specs)).toMatchObject({ port: '9200', verbose: 'true' })
  })

  it('rejects unknown flags and missing values', () => {
    expect(() => parseFlags(['--nope'], {}, specs)).toThrow(FlagError)
    expect(() => parseFlags(['--port'], {}, specs)).toThrow(/needs a value/)
    expect(() => parseFlags(['stray'], {}, specs)).toThrow(/unexpected/)
  })

  it('parses sizes and Go-style durations', () => {
    expect(parseSize('1GiB')).toBe(1024 ** 3)
    expect(parseSize('512MiB')).toBe(512 * 1024 ** 2)
    expect(parseSize('100MB')).toBe(100e6)
    expect(() => parseSize('lots')).toThrow(FlagError)
    expect(parseDuration('2h30m')).toBe(9_000_000)
    expect(parseDuration('30m')).toBe(1_800_000)
    expect(parseDuration('250ms')).toBe(250)
    expect(() => parseDuration('1x')).toThrow(FlagError)
    expect(() => parseDuration('')).toThrow(FlagError)
    expect(() => parseDuration('1h ')).toThrow(FlagError)
  })
})
