export { startKafkaPeer } from './kafka-peer.js'
export type { KafkaPeer } from './kafka-peer.js'
