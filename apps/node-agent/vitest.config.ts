import { tapwireProject } from '../../vitest.shared.ts'

export default tapwireProject('node-agent', { testTimeout: 120_000, fileParallelism: false })
