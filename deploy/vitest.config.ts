import { tapwireProject } from '../vitest.shared.ts'

export default tapwireProject('deploy')
