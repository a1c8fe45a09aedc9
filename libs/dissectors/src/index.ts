/**
 * @module @tapwire/dissectors
 * The dissector engine, the protocol dissectors and the analyzer that turns packets into entries.
 */
export { Analyzer } from './analyzer.js'
export type { AnalyzerOptions, AnalyzerStats, PeerFlow } from './analyzer.js'
export { DissectorEngine } from './engine/engine.js'
export type { EngineOptions, EngineStats } from './engine/engine.js'
export { DEFAULT_DISSECTOR_LIMITS } from './engine/types.js'
export type {
  CallErrorType,
  CallRecord,
  ConnectionInfo,
  Dissector,
  DissectorLimits,
  DissectorSession,
  ProbeVerdict,
  SessionContext,
} from './engine/types.js'
export { BUILTIN_DISSECTORS } from './registry.js'
export { http1Dissector, splitTarget } from './http1/http1-dissector.js'
export { MessageParser, framingFromHeaders, headerValue } from './http1/message-parser.js'
export type { BodyFraming, MessageHead } from './http1/message-parser.js'
export { FIELD_CATALOGUE } from './catalogue.js'
export type { CatalogueField, FieldType } from './catalogue.js'
