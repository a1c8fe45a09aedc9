/**
 * @module @tapwire/testing
 * The test harness: real servers started on loopback, processes stopped by their own PID.
 */
export { TestProcess, freePort, requireTool, sleep, until } from './processes.js'
export { startNatsServer } from './nats-server.js'
export type { NatsServerHandle } from './nats-server.js'
export { analyzeFile, entryAttr, recordAndAnalyze, recordLoopback, tempDir, tsharkFields } from './capture.js'
export type { AnalyzeResult, RecordStats } from './capture.js'
export { startDnsmasq, startMariadb, startPostgres, startRedis } from './servers/index.js'
export type { MariadbHandle, PostgresHandle, ServerHandle } from './servers/index.js'
export * from './peers/index.js'
export { createNetnsLab, leftoverNetns, netnsAvailable, requireNetns } from './netns.js'
export type { NetnsLab, NetnsNode } from './netns.js'
export * from './k8s/index.js'
export { startEchoServer, http1Load, scrapeMetrics, storedCalls, procUsage, sampleProcs, startTcpdump, pace } from './load.js'
export type { LoadOptions, LoadResult, ProcSeries } from './load.js'
