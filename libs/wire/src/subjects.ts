/**
 * NATS names shared by hub and agents (ARCHITECTURE §4). Every subject a component publishes or
 * subscribes to is built here, so a rename cannot leave one side behind.
 */

export const ENTRY_STREAM = 'TAPWIRE_ENTRIES'
export const ENTRY_SUBJECT_PREFIX = 'tapwire.entries'
export const CONTROL_BUCKET = 'tapwire_control'

/** Node names become one subject token: letters, digits, `-` and `_` only. */
const NODE_TOKEN = /^[A-Za-z0-9_-]{1,128}$/

export class InvalidNodeNameError extends Error {
  readonly code = 'INVALID_NODE_NAME'
  constructor(node: string) {
    super(`node name '${node}' is not a valid NATS subject token (use letters, digits, '-' and '_')`)
    this.name = 'InvalidNodeNameError'
  }
}

/** Maps any host name to a subject-safe token (dots and other characters become `-`). */
export function toNodeToken(name: string): string {
  const token = name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128)
  if (!NODE_TOKEN.test(token)) throw new InvalidNodeNameError(name)
  return token
}

function checkNode(node: string): string {
  if (!NODE_TOKEN.test(node)) throw new InvalidNodeNameError(node)
  return node
}

export const subjects = {
  entries: (node: string) => `${ENTRY_SUBJECT_PREFIX}.${checkNode(node)}`,
  allEntries: `${ENTRY_SUBJECT_PREFIX}.>`,
  agentVerb: (node: string, verb: AgentVerb) => `tapwire.agent.${checkNode(node)}.${verb}`,
  agentStatus: (node: string) => `tapwire.agent.${checkNode(node)}.status`,
  allAgentStatus: 'tapwire.agent.*.status',
} as const

/** Requests the hub sends to one agent (request/reply). */
export type AgentVerb = 'details' | 'pcap' | 'flows' | 'status'

/** Keys of the control KV bucket that agents watch. */
export const controlKeys = {
  dissectionEnabled: 'dissection.enabled',
} as const
