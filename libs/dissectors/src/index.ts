/**
 * @module @tapwire/dissectors
 * The dissector engine, the protocol dissectors and the analyzer that turns packets into entries.
 */
export { Analyzer } from './analyzer.js'
export type { AnalyzerOptions, AnalyzerStats } from './analyzer.js'
export type { ConnWindow, PeerFlow } from './peer-flows.js'
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
export { PeerFlows, connStats, flowStats } from './peer-flows.js'
export { websocketDissector, WebSocketSession, WsOpcode, wsOpcodeName, parseClose } from './websocket/websocket-dissector.js'
export type { WebSocketUpgradeInit } from './websocket/websocket-dissector.js'
export { detectGraphql, parseDocument } from './graphql/graphql.js'
export type { GraphqlOperation, GraphqlOperationType } from './graphql/graphql.js'
export { setBodyDecoder, decodeContentEncoding, zlibBodyDecoder } from './http1/body-decoder.js'
export type { BodyDecoder, ZlibLike } from './http1/body-decoder.js'
export { http2Dissector, MAX_OPEN_STREAMS } from './http2/http2-dissector.js'
export type { H2cUpgradeInit } from './http2/http2-dissector.js'
export { HpackDecoder, HpackError } from './hpack/decoder.js'
export type { HeaderField, DecodedBlock } from './hpack/decoder.js'
export { grpcAttrs, isGrpcContentType, percentDecode, renderGrpcMessages, splitGrpcPath } from './grpc/grpc.js'
export { renderProtobuf } from './grpc/protobuf-text.js'
export { dnsTcpDissector, dnsUdpDissector } from './dns/dns-dissector.js'
export { parseDns, rcodeName, readName, renderRdata, typeName } from './dns/dns-message.js'
export type { DnsMessage, DnsQuestion, DnsRecord } from './dns/dns-message.js'
export { redisDissector } from './redis/redis-dissector.js'
export { RespParser, renderResp, respText } from './redis/resp-parser.js'
export type { RespValue } from './redis/resp-parser.js'
export { postgresqlDissector, splitTag } from './postgresql/postgresql-dissector.js'
export { mysqlDissector } from './mysql/mysql-dissector.js'
export { DEFAULT_REDACTION, JWT_PATTERN, REDACTED, Redactor } from './redaction/redactor.js'
export type { RedactionRules } from './redaction/redactor.js'
export { kafkaDissector } from './kafka/kafka-dissector.js'
export { API_KEY_NAMES, apiKeyName } from './kafka/kafka-protocol.js'
export { mongodbDissector } from './mongodb/mongodb-dissector.js'
export { decodeDocument, renderJson } from './mongodb/bson.js'
export type { BsonDoc, BsonValue } from './mongodb/bson.js'
export { amqpDissector } from './amqp/amqp-dissector.js'
export { methodName as amqpMethodName } from './amqp/amqp-methods.js'
export { tlsDissector } from './tls/tls-dissector.js'
export { ja3, ja4, parseClientHello, parseServerHello } from './tls/handshake.js'
export type { ClientHello, ServerHello } from './tls/handshake.js'
export { md5Hex, sha256Hex } from './tls/hash.js'
export { genericTcpDissector, genericUdpDissector } from './generic/generic-dissector.js'
