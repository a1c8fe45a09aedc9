import { defineConfig } from 'vitest/config'

// One run over every project (`npm test`); each project keeps its own vitest.config.ts.
export default defineConfig({
  test: {
    projects: ['libs/*', 'apps/*', 'tools/bench', 'deploy'],
    // End-to-end suites start servers and capture on loopback: keep them from starving each other
    // on a 2-core machine.
    maxWorkers: 2,
  },
})
