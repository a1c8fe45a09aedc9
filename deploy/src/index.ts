// Offline tooling for the Kubernetes manifests under deploy/: rendering, schema validation and
// the security policy. Used by this project's tests; see docs/deploy.md.
export type { K8sObject, Renderer } from './render.js'
export { findRealRenderer, minimalRenderer, pickRenderer, renderMinimal } from './render.js'
export type { ValidationIssue } from './validate.js'
export { checkFields, validateAll, validateSchemas } from './validate.js'
export type { RuleId, Violation } from './policy.js'
export { checkPolicy, ruleIds } from './policy.js'
export { checkDockerfile } from './dockerfile.js'
