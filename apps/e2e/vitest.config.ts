import { tapwireProject } from '../../vitest.shared.ts'

// End-to-end suites start real servers and capture on loopback: one file at a time.
export default tapwireProject('e2e', { testTimeout: 180_000, fileParallelism: false })
