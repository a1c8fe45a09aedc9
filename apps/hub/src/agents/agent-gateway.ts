import type { NatsConnection } from 'nats'
import { ErrorCode as NatsErrorCode } from 'nats'
import type { AgentVerb, DetailsRequest, DetailsResponse, FlowsResponse } from '@tapwire/wire'
import { decodeDetailsResponse, decodeFlowsResponse, encodeDetailsRequest, encodeFlowsRequest, subjects } from '@tapwire/wire'
import { ApiError, ErrorCode } from '../errors.js'

/** The agent may take up to ~13 s to answer with a connection PCAP (include_pcap). */
const PCAP_TIMEOUT_MS = 15_000

/** Hub → agent requests over NATS request/reply (`tapwire.agent.<node>.<verb>`). */
export interface AgentGateway {
  details(node: string, req: DetailsRequest): Promise<DetailsResponse>
  flows(node: string, limit: number): Promise<FlowsResponse>
}

export class NatsAgentGateway implements AgentGateway {
  readonly #nc: NatsConnection
  readonly #timeoutMs: number

  constructor(nc: NatsConnection, timeoutMs = 5000) {
    this.#nc = nc
    this.#timeoutMs = timeoutMs
  }

  async details(node: string, req: DetailsRequest): Promise<DetailsResponse> {
    // include_pcap reads the agent's ring: up to 5 s for the worker, 2 s of flush, 6 s of reading.
    const timeout = req.includePcap ? Math.max(this.#timeoutMs, PCAP_TIMEOUT_MS) : this.#timeoutMs
    return decodeDetailsResponse(await this.#ask(node, 'details', encodeDetailsRequest(req), timeout))
  }

  async flows(node: string, limit: number): Promise<FlowsResponse> {
    return decodeFlowsResponse(await this.#ask(node, 'flows', encodeFlowsRequest({ limit })))
  }

  async #ask(node: string, verb: AgentVerb, data: Uint8Array, timeoutMs = this.#timeoutMs): Promise<Uint8Array> {
    try {
      const m = await this.#nc.request(subjects.agentVerb(node, verb), data, { timeout: timeoutMs })
      return m.data
    } catch (e) {
      const code = (e as { code?: string }).code
      // "No responders" comes back at once when no agent of that node is subscribed: offline.
      if (code === NatsErrorCode.NoResponders) {
        throw new ApiError(503, ErrorCode.NODE_UNAVAILABLE, `node '${node}' is offline (no agent answers)`, { node })
      }
      if (code === NatsErrorCode.Timeout) {
        throw new ApiError(503, ErrorCode.NODE_UNAVAILABLE, `node '${node}' did not answer within ${timeoutMs} ms`, { node })
      }
      throw e
    }
  }
}
