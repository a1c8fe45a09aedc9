import { defineProject } from 'vitest/config'

/** The settings every project's tests share: sources resolved through the `@tapwire/source` condition. */
export function tapwireProject(name: string, overrides: { testTimeout?: number; fileParallelism?: boolean } = {}) {
  return defineProject({
    resolve: { conditions: ['@tapwire/source'] },
    ssr: { resolve: { conditions: ['@tapwire/source'] } },
    test: {
      name,
      include: ['src/**/*.test.ts'],
      environment: 'node',
      testTimeout: overrides.testTimeout ?? 20_000,
      hookTimeout: 60_000,
      fileParallelism: overrides.fileParallelism ?? true,
    },
  })
}
